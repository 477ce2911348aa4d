"""Near-duplicate clusters: MinHash signatures, LSH banding, verified pairs, connected components.

Signatures follow datasketch's ``affine32`` scheme exactly (the permutations come from
``datasketch.MinHash(num_perm, seed)``; each shingle hash is pre-mixed with the MurmurHash3 finalizer,
then ``a * h + b`` in uint32), so for the same 32-bit shingle hashes they equal datasketch's own
``MinHash.hashvalues`` (tests check this). The number of bands and rows per band come from
``datasketch.MinHashLSH`` for the configured LSH threshold. Hashing, banding and verification run
vectorised over whole chunks (numpy, polars) or in compiled loops (numba, :mod:`curate.minhash_kernels`),
never per row in Python.

Candidates from LSH are approximate: a pair is a candidate when its estimated Jaccard similarity (share
of equal signature values) reaches ``threshold - verify_margin``; candidate groups are the connected
components of those pairs (scipy). Groups are not verdicts: :func:`assign_near` then walks each group in
quality order and marks a row a near duplicate only when the true Jaccard of its shingle set with a
*kept* member reaches ``threshold`` (no chaining: A~B and B~C never make C a copy of A).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from schemas.config import DedupConfig

_U64 = np.uint64
_P = _U64(0x100000001B3)  # FNV prime: the polynomial base of the rolling n-gram hash


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


def token_arrays(texts: list[str], shingle: str) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of all texts in one array, and each text's start offset (plus the end).

    ``char``: Unicode code points. ``word``: 64-bit hashes of whitespace-separated words.
    """
    if shingle == "char":
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        tokens = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(_U64)
    else:
        words = pl.Series(texts, dtype=pl.String).str.split(" ")
        lengths = words.list.len().fill_null(0).to_numpy().astype(np.int64)
        tokens = words.explode().hash(seed=7).to_numpy().astype(_U64)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return tokens, offsets


def shingle_hashes(tokens: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of every n-gram that lies inside one text, with the index of its text.

    Texts shorter than ``n`` tokens have no shingles (exact dedup covers them).
    """
    from curate.minhash_kernels import shingle_hashes_kernel

    return shingle_hashes_kernel(tokens, offsets, n)


def signatures(texts: list[str], cfg: DedupConfig, perms: np.ndarray) -> np.ndarray:
    """MinHash signatures (``len(texts)`` x ``num_perm``, uint32) of the texts' shingle sets.

    Texts without shingles keep the all-max signature (the caller excludes them from LSH).
    """
    from curate.minhash_kernels import signature_kernel

    tokens, offsets = token_arrays(texts, cfg.shingle)
    hv, row = shingle_hashes(tokens, offsets, cfg.ngram)
    sig = np.full((len(texts), cfg.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    if hv.size == 0:
        return sig
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    ends = np.r_[starts[1:], len(row)]
    a, b = perms
    signature_kernel(hv, starts, ends, np.ascontiguousarray(a), np.ascontiguousarray(b), sig, row[starts])
    return sig


def datasketch_permutations(num_perm: int, seed: int) -> np.ndarray:
    """The ``(a, b)`` uint32 permutation arrays datasketch's MinHash uses for this seed."""
    from datasketch import MinHash

    m = MinHash(num_perm=num_perm, seed=seed, scheme="affine32")
    return np.asarray(m.permutations, dtype=np.uint32)


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands and rows per band, as datasketch's MinHashLSH chooses them for ``threshold``."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


@dataclass
class NearResult:
    cluster: np.ndarray  # per input text: cluster id, or -1 for no near duplicate
    similarity: np.ndarray  # per input text: best verified similarity to another member (0 if none)
    candidates: int
    verified: int


def candidate_pairs(sig: np.ndarray, eligible: np.ndarray, bands: int, rows_per_band: int) -> np.ndarray:
    """Pairs (i, j), i < j, that share at least one LSH band bucket (see :func:`bucket_pairs`)."""
    idx = np.flatnonzero(eligible)
    keys = band_keys(sig[idx], bands, rows_per_band)
    pairs = [bucket_pairs(keys[:, band], idx) for band in range(bands)]
    return unique_pairs(np.concatenate(pairs) if pairs else np.empty((0, 2), dtype=np.int64))


def band_keys(sig: np.ndarray, bands: int, rows_per_band: int) -> np.ndarray:
    """Each row's LSH bucket key in every band (``len(sig)`` x ``bands``, uint64)."""
    keys = np.empty((sig.shape[0], bands), dtype=_U64)
    for band in range(bands):
        keys[:, band] = _band_key(np.ascontiguousarray(sig[:, band * rows_per_band:(band + 1) * rows_per_band]))
    return keys


def bucket_pairs(key: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Pairs of ``ids`` (ascending) that share a bucket ``key`` of one band.

    Within a bucket each member is paired with the bucket's first member and with its predecessor,
    which links every true cluster while keeping the pair count linear in the bucket size.
    """
    order = np.argsort(key, kind="stable")
    k_sorted = key[order]
    first_of_run = np.r_[True, k_sorted[1:] != k_sorted[:-1]]
    members = ~first_of_run
    if not members.any():
        return np.empty((0, 2), dtype=np.int64)
    run_id = np.cumsum(first_of_run) - 1
    run_start = np.flatnonzero(first_of_run)
    cur = ids[order[members]]
    head = ids[order[run_start[run_id[members]]]]
    prev = ids[order[np.flatnonzero(members) - 1]]
    return np.concatenate([np.stack([head, cur], axis=1), np.stack([prev, cur], axis=1)]).astype(np.int64)


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """``pairs`` as (smaller, larger), without self-pairs and repeats, sorted."""
    if not len(pairs):
        return np.empty((0, 2), dtype=np.int64)
    allp = np.sort(pairs, axis=1)
    allp = allp[allp[:, 0] != allp[:, 1]]
    n = int(allp.max()) + 1 if len(allp) else 1
    keys = np.unique(allp[:, 0] * n + allp[:, 1])  # 1-D unique is far faster than unique(axis=0)
    return np.stack([keys // n, keys % n], axis=1)


def _band_key(block: np.ndarray) -> np.ndarray:
    """One 64-bit key per row of a band (a hash of its ``r`` signature values)."""
    h = np.zeros(block.shape[0], dtype=_U64)
    with np.errstate(over="ignore"):
        for j in range(block.shape[1]):
            h = _fmix64(h * _P + block[:, j].astype(_U64))
    return h


def verify(sig: np.ndarray, pairs: np.ndarray, threshold: float, chunk: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """Estimated Jaccard of each pair; returns (pairs that reach ``threshold``, their similarity)."""
    sims = np.empty(len(pairs), dtype=np.float32)
    for s in range(0, len(pairs), chunk):
        p = pairs[s:s + chunk]
        sims[s:s + chunk] = (sig[p[:, 0]] == sig[p[:, 1]]).mean(axis=1)
    keep = sims >= threshold
    return pairs[keep], sims[keep]


def near_duplicates(texts: list[str], cfg: DedupConfig,
                    on_progress: Callable[[int], None] | None = None) -> NearResult:
    """Cluster ``texts`` by near-duplicate similarity (see the module docstring)."""
    n = len(texts)
    texts = [t[: cfg.max_chars] for t in texts]
    perms = datasketch_permutations(cfg.num_perm, cfg.seed)
    sig = np.empty((n, cfg.num_perm), dtype=np.uint32)
    chunks = [(s, min(s + cfg.chunk_rows, n)) for s in range(0, n, cfg.chunk_rows)]

    def work(bounds: tuple[int, int]) -> None:
        s, e = bounds
        sig[s:e] = signatures(texts[s:e], cfg, perms)
        if on_progress:
            on_progress(e - s)

    for bounds in chunks:  # the kernel itself runs on every core
        work(bounds)
    eligible = (sig != np.iinfo(np.uint32).max).any(axis=1)  # texts with at least one shingle
    bands, rows_per_band = lsh_params(cfg.lsh_threshold, cfg.num_perm)
    pairs = candidate_pairs(sig, eligible, bands, rows_per_band)
    good, sims = verify(sig, pairs, verify_threshold(cfg))
    cluster, best = clusters_from_pairs(n, good, sims)
    return NearResult(cluster=cluster, similarity=best, candidates=len(pairs), verified=len(good))


def verify_threshold(cfg: DedupConfig) -> float:
    """The estimated Jaccard a candidate pair must reach to be verified."""
    return max(cfg.threshold - cfg.verify_margin, cfg.lsh_threshold)


def verify_elsewhere(pairs: np.ndarray, signatures_of: Callable[[np.ndarray], np.ndarray], cfg: DedupConfig,
                     batch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`verify` for engines that keep the signatures elsewhere (Ray blocks, spilled chunks): ``pairs``
    (row ids) ``batch`` at a time (None: all at once), each on ``signatures_of(ids)`` (sorted unique row
    ids -> their signatures, one row each, in that order). Returns (verified pairs, their similarity)."""
    good, sims = [np.empty((0, 2), dtype=np.int64)], [np.empty(0, dtype=np.float32)]
    step = batch or max(len(pairs), 1)
    for start in range(0, len(pairs), step):
        part = pairs[start:start + step]
        ids = np.unique(part)
        g, s = verify(signatures_of(ids), np.searchsorted(ids, part), verify_threshold(cfg))
        good.append(ids[g])
        sims.append(s)
    return np.concatenate(good), np.concatenate(sims)


def groups_from_pairs(n: int, pairs: np.ndarray, signatures_of: Callable[[np.ndarray], np.ndarray],
                      cfg: DedupConfig, batch: int | None = None) -> np.ndarray:
    """Candidate groups of ``n`` rows from their LSH candidate ``pairs`` (:func:`verify_elsewhere`). Per
    row: its group, or -1."""
    if not len(pairs):
        return np.full(n, -1, dtype=np.int64)
    cluster, _ = clusters_from_pairs(n, *verify_elsewhere(pairs, signatures_of, cfg, batch))
    return cluster


def clusters_from_pairs(n: int, good: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of the verified pairs among ``n`` texts: per text its cluster id (-1 when it
    is in no pair) and its best verified similarity (0 when none)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    cluster = np.full(n, -1, dtype=np.int64)
    best = np.zeros(n, dtype=np.float32)
    if len(good):
        index = np.int32 if n < 2**31 else np.int64  # millions of pairs: a compact graph
        graph = coo_matrix((np.ones(len(good), dtype=bool), (good[:, 0].astype(index), good[:, 1].astype(index))),
                           shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        in_pair = np.zeros(n, dtype=bool)
        in_pair[good.ravel()] = True
        cluster[in_pair] = labels[in_pair]
        np.maximum.at(best, good[:, 0], sims)
        np.maximum.at(best, good[:, 1], sims)
    return cluster, best


def shingle_sets(texts: list[str], cfg: DedupConfig) -> list[np.ndarray]:
    """Each text's set of 32-bit shingle hashes (sorted, unique), as :func:`signatures` sees it."""
    tokens, offsets = token_arrays([t[: cfg.max_chars] for t in texts], cfg.shingle)
    hv, row = shingle_hashes(tokens, offsets, cfg.ngram)
    order = np.lexsort((hv, row))
    hv, row = hv[order], row[order]
    bounds = np.searchsorted(row, np.arange(len(texts) + 1))
    return [np.unique(hv[bounds[i]:bounds[i + 1]]) for i in range(len(texts))]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique hash arrays (0 when both are empty)."""
    union = len(a) + len(b)
    if union == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (union - inter)


_MATH = re.compile(r"\d+(?:[.,]\d+)?(?:\s*[-+*/×÷^%=<>]\s*\d+(?:[.,]\d+)?)*")


def numbers(text: str) -> tuple[str, ...]:
    """The numbers and arithmetic expressions of ``text`` (``45 + 15``, ``3.5``), sorted, spaces removed."""
    return tuple(sorted(m.group(0).replace(" ", "") for m in _MATH.finditer(text)))


def assign_near(groups: np.ndarray, texts: list[str], cfg: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
    """Greedy near-duplicate assignment within candidate groups, rows given in quality order (best first).

    A row whose true shingle Jaccard with an already kept member of its group reaches ``cfg.threshold``
    (and, with ``cfg.numbers_must_match``, whose numbers and arithmetic are the same: ``45 + 15`` and
    ``45 - 15`` are different problems) is that member's near duplicate; any other row is kept and may
    absorb later rows. A row is compared with at most ``cfg.max_compared`` kept rows of its group (the
    best ones): in a huge group a duplicate can be missed, never invented. Returns, per row, the
    position of the kept member it duplicates (-1: kept) and that similarity (0 for kept rows).
    """
    n = len(texts)
    kept_of = np.full(n, -1, dtype=np.int64)
    sim = np.zeros(n, dtype=np.float32)
    sets = shingle_sets(texts, cfg)
    nums = [numbers(t) for t in texts] if cfg.numbers_must_match else [()] * n
    reps: dict[int, list[int]] = {}
    for i in range(n):
        group_reps = reps.setdefault(int(groups[i]), [])
        best, best_j = 0.0, -1
        for j in group_reps[: cfg.max_compared]:
            if nums[i] != nums[j]:
                continue
            s = jaccard(sets[i], sets[j])
            if s > best:
                best, best_j = s, j
        if best_j >= 0 and best >= cfg.threshold:
            kept_of[i], sim[i] = best_j, best
        else:
            group_reps.append(i)
    return kept_of, sim
