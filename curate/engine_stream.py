"""The local engine in bounded memory: ``sieve curate`` a chunk at a time, spilling to disk.

Input that fits one chunk (``memory.chunk_size()``, from ``--memory-limit``) is curated in memory by
:func:`curate.pipeline.run_curate`, as before. Larger input is streamed, with the passes of
:mod:`curate.passes` (the in-memory engine's own functions, so the verdicts are its verdicts):

1. signals: chunks of about ``chunk_bytes`` of input (:class:`curate.chunked_ingest.ChunkedIngest`) get
   views, signals, contamination and MinHash; each chunk goes to disk (Parquet), its signatures to
   ``sig-N.npy`` and its LSH band keys to ``bands-N.parquet``. Memory keeps only the compact columns
   the whole-data decisions need: 64-bit exact-dedup keys, file and languages (categorical);
2. exact dedup and expected languages over those columns; near dedup band by band from the spilled
   keys (one band of the first row of each exact-duplicate set in memory at a time): each band's
   candidate pairs not already joined are verified on signatures read back for their rows only, and the
   components of the verified pairs (the in-memory engine's candidate groups) are kept as one label a row;
3. rules, chunk by chunk; the kept member of every cluster from quality, cluster ids and the texts of
   near-duplicate candidates only; then verdicts, chunk by chunk, written as the run's annotated chunks.

The outputs are written from the chunk files (:func:`curate.outputs.write_outputs`). Model signals and
semantic duplicates (``--model-signals``, ``--semantic``) hold vectors or model state for every row and run
in memory; a run with them is not streamed and says so.
"""

from __future__ import annotations

import math
import resource
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from curate.chunked_ingest import ChunkedIngest, content_bytes
from curate.contamination import load_eval_prompts
from curate.dedup_exact import clusters_from_keys
from curate.dedup_near import bucket_pairs
from curate.expected_lang import expected_languages
from curate.ingest import FRAME_SCHEMA
from curate.passes import (KEY_COLUMNS, Lsh, minhash, representative_columns, representatives, rules_pass,
                           signals_pass, verdicts_pass)
from curate.pipeline import CurateResult, ProgressHook, Stages, curate_frame, run_curate
from curate.input_scan import scan_inputs
from curate.run_folder import scratch
from curate.text import near_text
from schemas.config import CurateConfig

SPILL_PREFIX = ".spill-"
SIGNAL_ROWS = 20_000  # rows whose list-valued signal intermediates are built at once (memory, not speed)


def peak_rss() -> int:
    """This process's peak resident memory so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def input_bytes(inputs: list[str | Path], exclude: list[Path] | None = None) -> int:
    """The rows' bytes in ``inputs`` (:func:`content_bytes` of each file): whether to stream goes by it."""
    return sum(content_bytes(f) for f in scan_inputs(inputs, exclude).files)


def in_memory_why(cfg: CurateConfig) -> str | None:
    """Why a run cannot be streamed, or None."""
    if cfg.model_signals.enabled:
        return "--model-signals runs in memory"
    if cfg.dedup.semantic:
        return "--semantic runs in memory"
    return None


@contextmanager
def spill_space(out: Path) -> Iterator[Path]:
    """A fresh folder for a run's chunks inside its output folder (same disk as the outputs), removed after;
    a killed run's leftovers are removed first (the caller holds the folder's lock)."""
    out.mkdir(parents=True, exist_ok=True)
    with scratch(out, SPILL_PREFIX, uuid.uuid4().hex[:12]) as folder:
        yield folder


def curate_local(inputs: list[str | Path], cfg: CurateConfig, spill: Path, eval_paths: list[str | Path] | None = None,
                 hook: ProgressHook | None = None, exclude: list[Path] | None = None) -> CurateResult:
    """``sieve curate`` on the local engine: in memory when the input fits one chunk (or a flag needs it),
    else streamed through ``spill`` (see the module docstring). The result's frame of a streamed run reads
    the chunk files: use it before ``spill`` is removed."""
    limit, chunk = cfg.memory.limit_bytes(), cfg.memory.chunk_size()
    size = input_bytes(inputs, exclude)
    why = in_memory_why(cfg) if size > chunk else None
    if size <= chunk or why:
        result = run_curate(inputs, cfg, eval_paths, hook=hook, exclude=exclude)
        result.memory = {"limit_bytes": limit, "chunk_bytes": chunk, "input_bytes": size, "chunks": 1,
                         "streamed": False, "why_not": why, "peak_rss_bytes": peak_rss()}
        return result
    evals = load_eval_prompts(list(eval_paths)) if eval_paths else None
    result = stream(inputs, cfg, evals, spill, chunk, Stages(hook), exclude)
    result.eval_files = [str(p) for p in eval_paths or []]
    result.memory = {"limit_bytes": limit, "chunk_bytes": chunk, "input_bytes": size, "chunks": len(result.parts or []),
                     "streamed": True, "why_not": None, "peak_rss_bytes": peak_rss(), **(result.memory or {})}
    return result


@dataclass
class _Chunk:
    first: int  # row_idx of its first row
    rows: int


def stream(inputs: list[str | Path], cfg: CurateConfig, evals: pl.DataFrame | None, spill: Path, chunk_bytes: int,
           st: Stages, exclude: list[Path] | None = None) -> CurateResult:
    """The streamed run (see the module docstring); every file it writes is under ``spill``."""
    reader = ChunkedIngest(inputs, cfg, chunk_bytes, exclude)
    lsh = Lsh.of(cfg) if cfg.dedup.near else None
    chunks: list[_Chunk] = []
    small: list[pl.DataFrame] = []
    # progress in rows: lines of the JSONL inputs (others are counted as they are read)
    estimate = sum(_lines(f) for f in reader.scan.files)
    with st.stage("signals", estimate) as advance:
        for i, frame in enumerate(reader):
            frame = signals_pass(frame, cfg, evals, SIGNAL_ROWS)
            if lsh is not None:
                sig, bands, eligible = minhash(frame, cfg, lsh)
                np.save(spill / f"sig-{i}.npy", sig)
                pl.DataFrame({"row_idx": frame["row_idx"], **{f"b{j}": bands[:, j] for j in range(lsh.bands)}}
                             ).filter(pl.Series(eligible)).write_parquet(spill / f"bands-{i}.parquet")
            small.append(frame.select("row_idx", *KEY_COLUMNS, *[pl.col(c).cast(pl.Categorical) for c in
                                                                 ("source_file", "lang_prompt", "lang_response")]))
            frame.drop(KEY_COLUMNS).write_parquet(spill / f"signals-{i}.parquet")
            chunks.append(_Chunk(int(frame["row_idx"][0]) if frame.height else reader.rows, frame.height))
            advance(frame.height)
    n = st.timings[-1].rows = reader.rows
    empty = curate_frame(pl.DataFrame(schema=FRAME_SCHEMA), cfg, evals)  # the in-memory engine's columns
    if n == 0:  # nothing could be read: the in-memory engine's empty run, with what reading found
        return CurateResult(frame=empty, quarantine=reader.quarantine, files=reader.files, config=cfg,
                            stages=st.timings, skipped=reader.skipped)
    keys = pl.concat(small)
    del small
    with st.stage("exact dedup", n):
        whole = pl.concat([keys.select("row_idx"), clusters_from_keys(keys, cfg.dedup.same_prompt)], how="horizontal")
        expected, shares = expected_languages(keys, cfg.signals)  # on the categorical columns: no copy per row
        # the first row of each exact-duplicate set stands for it in near dedup, as in memory
        first_of = keys.select(pl.col("row_idx").min().over("pair_key"))["row_idx"].to_numpy()
        del keys
    with st.stage("near dedup", n):
        group = _near(spill, chunks, first_of, cfg, lsh)[first_of] if lsh is not None else np.full(n, -1)
        whole = whole.with_columns(near_cluster=pl.Series(group, dtype=pl.Int64)).with_columns(
            near_cluster=pl.when(pl.col("near_cluster") >= 0).then("near_cluster"),  # candidate groups only
            near_similarity=pl.lit(None, pl.Float32))
        del group, first_of
    with st.stage("rules", n) as advance:
        # candidate texts, spilled by group: the kept-member walk reads one share of the groups at a time
        texts = SpilledTexts(spill, _text_partitions(whole, size_of(reader), chunk_bytes))
        reps = []
        for i, c in enumerate(chunks):
            path = spill / f"signals-{i}.parquet"
            frame = rules_pass(pl.read_parquet(path), whole.slice(c.first, c.rows), cfg, expected)
            frame.write_parquet(spill / f"rules-{i}.parquet")
            path.unlink()
            texts.add(i, frame)
            reps.append(representative_columns(frame, texts=False))
            advance(c.rows)
        del whole
        dedup = representatives(pl.concat(reps), cfg, texts)
        del reps
    parts = []
    with st.stage("verdicts", n) as advance:
        for i, c in enumerate(chunks):
            path = spill / f"rules-{i}.parquet"
            parts.append(spill / f"annotated-{i:05d}.parquet")
            verdicts_pass(pl.read_parquet(path), dedup.slice(c.first, c.rows), cfg, empty.columns).write_parquet(parts[-1])
            path.unlink()
            advance(c.rows)
    return CurateResult(frame=pl.scan_parquet(parts), quarantine=reader.quarantine, files=reader.files, config=cfg,
                        stages=st.timings, skipped=reader.skipped, parts=parts, languages=(expected, shares),
                        memory={"text_parts": texts.partitions})  # the kept-member walk's shares of the groups


def _near(spill: Path, chunks: list[_Chunk], firsts_of: np.ndarray, cfg: CurateConfig, lsh: Lsh) -> np.ndarray:
    """Candidate groups of the first rows (per ``row_idx``, -1: none): the connected components of the
    verified candidate pairs, as in memory, found band by band from the spilled keys without holding every
    pair. A band's pairs whose rows are already in one component are not verified (they cannot change the
    components); the others are verified and joined in."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from curate.dedup_near import verify_elsewhere

    n = len(firsts_of)
    first = firsts_of == np.arange(n)
    files = [spill / f"bands-{i}.parquet" for i in range(len(chunks))]
    label = np.arange(n, dtype=np.int64)  # each row's component so far
    linked = np.zeros(n, dtype=bool)  # rows in some verified pair
    batch = max(cfg.memory.chunk_size() // 1024, 10_000)  # signatures copied out: 512 bytes a row, two a pair

    def signatures_of(ids: np.ndarray) -> np.ndarray:
        out = []
        for i, c in enumerate(chunks):
            mine = ids[(ids >= c.first) & (ids < c.first + c.rows)]
            if len(mine):
                out.append(np.load(spill / f"sig-{i}.npy", mmap_mode="r")[mine - c.first])
        return np.concatenate(out)

    for band in range(lsh.bands):
        col = pl.concat([pl.read_parquet(f, columns=["row_idx", f"b{band}"]) for f in files])
        ids = col["row_idx"].to_numpy()
        take = first[ids]  # row order: bucket members pair in row order, as in memory
        pairs = bucket_pairs(col[f"b{band}"].to_numpy()[take], ids[take])
        del col, ids, take
        pairs = pairs[label[pairs[:, 0]] != label[pairs[:, 1]]]
        good, _ = verify_elsewhere(pairs, signatures_of, cfg.dedup, batch)
        if len(good):
            linked[good.ravel()] = True
            edges = label[good]
            graph = coo_matrix((np.ones(len(edges), dtype=bool), (edges[:, 0], edges[:, 1])), shape=(n, n))
            _, joined = connected_components(graph, directed=False)
            label = joined[label].astype(np.int64)
        del pairs, good
    return np.where(linked, label, -1)


def size_of(reader: ChunkedIngest) -> int:
    return sum(content_bytes(f) for f in reader.scan.files)


def _text_partitions(whole: pl.DataFrame, input_size: int, chunk_bytes: int) -> int:
    """How many parts the candidate texts are cut into: a quarter of a chunk's input each (their shingle
    sets take several times the texts' size)."""
    share = whole["near_cluster"].is_not_null().mean() or 0.0
    return max(1, math.ceil(4 * share * input_size / chunk_bytes))


class SpilledTexts:
    """The near-duplicate candidates' texts, spilled by ``near_cluster % partitions`` (:class:`curate.rules.NearTexts`)."""

    def __init__(self, spill: Path, partitions: int):
        self.spill, self.partitions, self.chunks = spill, partitions, 0

    def _file(self, chunk: int, part: int) -> Path:
        return self.spill / f"near-{chunk}-{part}.parquet"

    def add(self, chunk: int, frame: pl.DataFrame) -> None:
        cand = frame.filter(pl.col("near_cluster").is_not_null()).select(
            "row_idx", near_text(), _p=pl.col("near_cluster") % self.partitions)
        for p in range(self.partitions):
            cand.filter(pl.col("_p") == p).drop("_p").write_parquet(self._file(chunk, p))
        self.chunks = max(self.chunks, chunk + 1)

    def pieces(self, cand: pl.DataFrame) -> Iterator[tuple[pl.DataFrame, list[str]]]:
        for p in range(self.partitions):
            part = cand.filter(pl.col("near_cluster") % self.partitions == p)
            texts = pl.concat([pl.read_parquet(self._file(i, p)) for i in range(self.chunks)])
            yield part, part.select("row_idx").join(texts, on="row_idx", how="left", maintain_order="left")["text"].to_list()
            del texts


def _lines(path: Path) -> int:
    """Newlines in a plain JSONL file (its rows, near enough, for a progress bar); 0 for other files."""
    from curate.fast_ingest import is_plain_jsonl

    if not is_plain_jsonl(path):
        return 0
    count = 0
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 24), b""):
                count += block.count(b"\n")
    except OSError:
        return 0  # unreadable: the reader quarantines it with the reason
    return count
