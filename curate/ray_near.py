"""Near-duplicate candidate groups on Ray: the local engine's groups, found without one big matrix.

Each row's MinHash signature and LSH band keys are computed where the row is (the Ray engine's first
pass, :func:`curate.dedup_near.signatures` and :func:`curate.dedup_near.band_keys`). Here:

1. map tasks, one per block, emit ``(band, key, row_idx)`` of the rows LSH looks at (the first row of
   each exact-duplicate set, with at least one shingle: what the local engine hashes), split by key
   into one partition per reducer; a bucket therefore lies whole in one partition;
2. reducers pair the members of each bucket in ``row_idx`` order with :func:`curate.dedup_near.bucket_pairs`,
   the local engine's own pairing, so the candidate pairs are the local engine's;
3. the driver gathers the signatures of the rows in some pair only (a small share of the data),
   verifies the pairs and joins them into groups with the local engine's :func:`verify` and
   :func:`clusters_from_pairs`.

Which member of a group is kept is decided later, with quality known, by the rules' kept-member walk.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.dedup_near import bucket_pairs, groups_from_pairs, unique_pairs
from schemas.config import DedupConfig


def band_rows(block, firsts: np.ndarray, partitions: int) -> list:
    """``(band, key, row_idx)`` of a block's LSH rows, one Arrow table per partition. A Ray task."""
    frame = pl.from_arrow(block).select("row_idx", "_bands", "_eligible")
    idx = frame["row_idx"].to_numpy()
    frame = frame.filter(pl.Series(firsts[idx]) & pl.col("_eligible"))
    keys = frame["_bands"].to_numpy()  # rows x bands, uint64
    bands = keys.shape[1] if keys.ndim == 2 else 0
    long = pl.DataFrame({"band": np.tile(np.arange(bands, dtype=np.int16), frame.height),
                         "key": keys.reshape(-1), "row_idx": np.repeat(frame["row_idx"].to_numpy(), bands)})
    part = (long["key"] % partitions).to_numpy() if partitions > 1 else np.zeros(long.height, dtype=np.int64)
    out = [long.filter(pl.Series(part == p)).to_arrow() for p in range(partitions)]
    return out if partitions > 1 else out[0]


def partition_pairs(*tables) -> np.ndarray:
    """Candidate pairs ``(row_idx, row_idx)`` of one partition's buckets, band by band. A Ray task."""
    frame = pl.concat([pl.from_arrow(t) for t in tables]).sort("band", "row_idx")
    pairs = [bucket_pairs(g["key"].to_numpy(), g["row_idx"].to_numpy())
             for _, g in frame.group_by("band", maintain_order=True)]
    return unique_pairs(np.concatenate(pairs)) if pairs else np.empty((0, 2), dtype=np.int64)


def signatures_of(block, wanted: np.ndarray):
    """``row_idx`` and ``_sig`` of the block's rows flagged in ``wanted``. A Ray task."""
    frame = pl.from_arrow(block).select("row_idx", "_sig")
    return frame.filter(pl.Series(wanted[frame["row_idx"].to_numpy()])).to_arrow()


def near_groups(blocks: list, firsts: np.ndarray, cfg: DedupConfig, partitions: int) -> np.ndarray:
    """Per ``row_idx`` of the first rows: its candidate group (-1: none), as the local engine finds them."""
    import ray

    n = len(firsts)
    firsts_ref = ray.put(firsts)
    mapper = ray.remote(band_rows).options(num_returns=partitions)
    maps = [mapper.remote(b, firsts_ref, partitions) for b in blocks]
    if partitions == 1:
        maps = [[m] for m in maps]
    reducer = ray.remote(partition_pairs)
    found = ray.get([reducer.remote(*[m[p] for m in maps]) for p in range(partitions)])
    pairs = unique_pairs(np.concatenate(found)) if found else np.empty((0, 2), dtype=np.int64)

    def sigs(members: np.ndarray) -> np.ndarray:
        wanted = np.zeros(n, dtype=bool)
        wanted[members] = True
        wanted_ref = ray.put(wanted)
        found = pl.concat([pl.from_arrow(t) for t in ray.get([ray.remote(signatures_of).remote(b, wanted_ref)
                                                              for b in blocks])]).sort("row_idx")
        return np.asarray(found["_sig"].to_numpy(), dtype=np.uint32).reshape(len(members), -1)

    return groups_from_pairs(n, pairs, sigs, cfg)
