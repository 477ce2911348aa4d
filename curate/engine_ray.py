"""``sieve curate --engine ray``: the local engine's stages as Ray tasks, with the local engine's verdicts.

What is per row runs where the rows are, as Ray Data ``map_batches`` over Arrow batches calling the local
engine's own functions; what needs the whole data set is decided on the driver from compact columns,
again with the local engine's functions:

1. ingest: a task per file or per byte range of plain JSONL (:mod:`curate.ray_ingest`);
2. signals (per row): global ``row_idx`` / ``source_line`` / ``id``, views, exact-dedup keys, every
   signal and contamination check, MinHash signature and LSH band keys;
3. exact dedup (whole data): cluster ids and response reuse from the 64-bit keys, languages expected
   per file from the detected languages (:func:`curate.dedup_exact.clusters_from_keys`,
   :func:`curate.expected_lang.expected_languages`);
4. near dedup: band keys shuffled by key into candidate pairs, verified and grouped (:mod:`curate.ray_near`);
5. rules (per row): reasons and quality (:func:`curate.rules.apply_rules`);
6. representatives (whole data): :func:`curate.rules.pick_representatives` on quality, cluster ids and
   the texts of near-duplicate candidates only, then (per row) dedup reasons joined and verdicts.

Ray is imported here only, never by the local engine. Not supported yet: model signals and semantic
dedup (they fail before Ray starts, naming the flag). The annotated rows come back to the driver a block
at a time and go to its disk (``spill``); the outputs are written from those files a part at a time
(:func:`curate.outputs.write_outputs`), so the driver needs memory for the compact whole-data columns
and one block, not for every row.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from curate.contamination import load_eval_prompts
from curate.dedup_exact import clusters_from_keys
from curate.errors import EngineError
from curate.ingest import FRAME_SCHEMA, stable_ids
from curate.passes import (KEY_COLUMNS, Lsh, minhash, representative_columns, representatives, rules_pass,
                           signals_pass, verdicts_pass)
from curate.pipeline import CurateResult, ProgressHook, Stages, curate_frame
from schemas.config import CurateConfig

_ARROW = pl.CompatLevel.oldest()  # large_string, not string_view: what every Ray Data version reads
# Ray schedules one task per CPU; the libraries inside a task then use one thread each, not all cores.
TASK_ENV = {"POLARS_MAX_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


@dataclass
class RayRun:
    result: CurateResult
    blocks: list[pl.DataFrame]  # the annotated rows as Ray's blocks held them, when no spill folder was given


def check_supported(cfg: CurateConfig) -> None:
    """Raise :class:`EngineError` naming a setting the Ray engine does not run, or a missing Ray."""
    if cfg.model_signals.enabled:
        raise EngineError("--engine ray does not run --model-signals yet; use the local engine for model signals")
    if cfg.dedup.semantic:
        raise EngineError("--engine ray does not run --semantic (dedup.semantic) yet; use the local engine for it")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise EngineError('--engine ray needs Ray: pip install -e ".[ray]" (Sieve\'s extra, not the PyPI '
                          'package named sieve)') from None


@contextmanager
def ray_session(cfg: CurateConfig) -> Iterator[int]:
    """Join Ray (an initialised session, ``ray.address``, ``RAY_ADDRESS``) or start a local one for the run
    and shut it down after; yields the cluster's CPU count. Raises :class:`EngineError` when unreachable."""
    import ray
    from ray.data import DataContext

    address = cfg.ray.address or os.environ.get("RAY_ADDRESS")
    for name in ("ray", "ray.data"):  # Ray's notices would interleave with the run's progress; errors still raise
        logging.getLogger(name).setLevel(logging.ERROR)
    started = not ray.is_initialized()
    if started and address and (why := _unreachable(address)):
        raise EngineError(f"cannot join the Ray cluster at {address!r}: {why}")  # ray.init would retry forever
    if started:
        kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": cfg.ray.num_cpus or os.cpu_count(),
                                                                        "include_dashboard": False}
        try:
            ray.init(**kwargs, logging_level=logging.ERROR, log_to_driver=False,
                     runtime_env={"env_vars": TASK_ENV})
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise EngineError(f"cannot join the Ray cluster at {address!r}: {str(exc).splitlines()[0]}") from None
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = True  # blocks keep row order: Parquet parts follow the rows
    try:
        yield max(int(ray.cluster_resources().get("CPU", 1)), 1)
    finally:
        if started:
            ray.shutdown()


def _unreachable(address: str, timeout: float = 10.0) -> str | None:
    """Why nothing answers at a ``host:port`` (or ``ray://host:port``) address, else None ("auto" and
    other forms are left to Ray)."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        return f"nothing answers at {host}:{port} ({exc.strerror or exc}); is the cluster up (ray start --head)?"
    return None


def _arrow(frame: pl.DataFrame):
    return frame.to_arrow(compat_level=_ARROW)


def write_parts(blocks: list[pl.DataFrame | Path], folder: Path) -> None:
    """The annotated rows as Parquet parts, one per Ray block in row order (``annotated/part-00000.parquet``,
    ...), with the columns of ``annotated.parquet``: for readers that split work by file (Ray, Spark).
    ``blocks``: the blocks, or the files a run spilled them to (read one at a time)."""
    from curate.outputs import DROP_FROM_ANNOTATED

    folder.mkdir(parents=True, exist_ok=True)
    for i, block in enumerate(blocks):
        block = pl.read_parquet(block) if isinstance(block, Path) else block
        block.drop([c for c in DROP_FROM_ANNOTATED if c in block.columns]).write_parquet(folder / f"part-{i:05d}.parquet")


def signals_batch(batch, cfg: CurateConfig, offsets: pl.DataFrame, evals: pl.DataFrame | None, lsh: Lsh,
                  names: dict[str, str] | None = None):
    """Pass 1 over an Arrow batch: global numbering and ids, then :func:`curate.passes.signals_pass` and MinHash."""
    frame = (pl.from_arrow(batch).join(offsets, on="_part", how="left", maintain_order="left")
             .with_columns(row_idx=pl.col("_row0") + pl.col("_local"),
                           source_line=pl.col("source_line") + pl.col("_line0"))
             .with_columns(id=stable_ids(names)).select(list(FRAME_SCHEMA)))
    frame = signals_pass(frame, cfg, evals)
    if cfg.dedup.near:
        sig, bands, eligible = minhash(frame, cfg, lsh)
        frame = frame.with_columns(_sig=pl.Series(sig), _bands=pl.Series(bands), _eligible=pl.Series(eligible))
    return _arrow(frame)


def _rows(table_ref, lo: int, hi: int) -> pl.DataFrame:
    """Rows ``lo..hi`` of a driver table indexed by ``row_idx`` (0..n-1 in order), zero-copy."""
    import ray

    return pl.from_arrow(ray.get(table_ref[0])).slice(lo, hi - lo + 1)


def rules_batch(batch, cfg: CurateConfig, whole_ref: list, expected: dict[str, list[str]]):
    """Pass 2 (:func:`curate.passes.rules_pass`) over an Arrow batch."""
    frame = pl.from_arrow(batch).drop("_sig", "_bands", "_eligible", strict=False)
    ids = frame["row_idx"]
    return _arrow(rules_pass(frame, _rows(whole_ref, ids.min(), ids.max()), cfg, expected))


def verdicts_batch(batch, cfg: CurateConfig, dedup_ref: list, columns: list[str]):
    """Pass 3 (:func:`curate.passes.verdicts_pass`) over an Arrow batch."""
    frame = pl.from_arrow(batch)
    ids = frame["row_idx"]
    return _arrow(verdicts_pass(frame, _rows(dedup_ref, ids.min(), ids.max()), cfg, columns))


def compact(block, columns: list[str] | None):
    """A block's ``columns``, or (None) what :func:`curate.passes.representatives` needs. A Ray task."""
    frame = pl.from_arrow(block)
    return _arrow(representative_columns(frame) if columns is None else frame.select(columns))


def _gather(blocks: list, columns: list[str] | None) -> pl.DataFrame:
    import ray

    task = ray.remote(compact)
    parts = ray.get([task.remote(b, columns) for b in blocks])
    return pl.concat([pl.from_arrow(p) for p in parts]).sort("row_idx")


def run_curate_ray(inputs: list[str | Path], cfg: CurateConfig, eval_paths: list[str | Path] | None = None,
                   hook: ProgressHook | None = None, exclude: list[Path] | None = None,
                   spill: Path | None = None) -> RayRun:
    """:func:`curate.pipeline.run_curate` on Ray (see the module docstring): the same annotated frame,
    row for row. Raises :class:`EngineError` (see :func:`check_supported`, :func:`ray_session`) and the
    local engine's ``InputNotFoundError`` / ``EvalSetError``."""
    check_supported(cfg)
    evals = load_eval_prompts(list(eval_paths)) if eval_paths else None
    with ray_session(cfg) as cpus:
        return _run(inputs, cfg, evals, Stages(hook), cpus, exclude, [str(p) for p in eval_paths or []], spill)


def _run(inputs, cfg: CurateConfig, evals, st: Stages, cpus: int, exclude, eval_files: list[str],
         spill: Path | None) -> RayRun:
    import ray

    from curate.expected_lang import expected_languages
    from curate.ray_ingest import ingest_parts
    from curate.ray_near import near_groups

    with st.stage("ingest", 0):
        parts = ingest_parts(inputs, cfg, cpus, exclude)
    n = st.timings[-1].rows = parts.rows
    # the local engine's columns and types, from the local engine itself (on no rows)
    empty = curate_frame(pl.DataFrame(schema=FRAME_SCHEMA), cfg, evals)

    def done(frame: pl.DataFrame | pl.LazyFrame, blocks: list[pl.DataFrame], files: list[Path] | None = None) -> RayRun:
        res = CurateResult(frame=frame, quarantine=parts.quarantine, files=parts.files, config=cfg,
                           stages=st.timings, eval_files=eval_files, skipped=parts.skipped, engine="ray", parts=files,
                           languages=languages)
        return RayRun(result=res, blocks=blocks)

    languages = None
    if n == 0:
        return done(empty, [])
    rows = min(cfg.ray.batch_rows, -(-n // (2 * cpus)))  # small data: still two batches per CPU
    batch = {"batch_format": "pyarrow", "batch_size": max(rows, 1), "zero_copy_batch": True}
    with st.stage("signals", n):
        d = cfg.dedup
        ds = ray.data.from_arrow_refs(parts.tables).map_batches(
            signals_batch, fn_kwargs={"cfg": cfg, "offsets": parts.offsets, "evals": evals, "lsh": Lsh.of(cfg),
                       "names": parts.names},
            **batch).materialize()
        blocks = ds.to_arrow_refs()
    with st.stage("exact dedup", n):
        small = _gather(blocks, ["row_idx", "source_file", "lang_prompt", "lang_response", *KEY_COLUMNS])
        whole = pl.concat([small.select("row_idx"), clusters_from_keys(small, d.same_prompt)], how="horizontal")
        expected, shares = expected_languages(small, cfg.signals)
        languages = (expected, shares)
        # the first row of each exact-duplicate set stands for it in near dedup, as locally
        first_of = small.select(pl.col("row_idx").min().over("pair_key"))["row_idx"].to_numpy()
    with st.stage("near dedup", n):
        group = near_groups(blocks, first_of == np.arange(n), d, cpus)[first_of] if d.near else np.full(n, -1)
        whole = whole.with_columns(near_cluster=pl.Series(group, dtype=pl.Int64)).with_columns(
            near_cluster=pl.when(pl.col("near_cluster") >= 0).then("near_cluster"),  # candidate groups only
            near_similarity=pl.lit(None, pl.Float32))
    with st.stage("rules", n):
        ds = ray.data.from_arrow_refs(blocks).map_batches(
            rules_batch, fn_kwargs={"cfg": cfg, "whole_ref": [ray.put(_arrow(whole))], "expected": expected},
            **batch).materialize()
        blocks = ds.to_arrow_refs()
        dedup = representatives(_gather(blocks, None), cfg)
        ds = ray.data.from_arrow_refs(blocks).map_batches(
            verdicts_batch, fn_kwargs={"cfg": cfg, "dedup_ref": [ray.put(_arrow(dedup))], "columns": empty.columns},
            **batch).materialize()
    with st.stage("collect", n):
        if spill is None:
            out = [pl.from_arrow(t) for t in ray.get(ds.to_arrow_refs())]
            return done(pl.concat(out).sort("row_idx"), out)
        # a block at a time to the driver's disk: the outputs are written from these files, a part at a time
        files = []
        for i, ref in enumerate(ds.to_arrow_refs()):  # in row order (preserve_order)
            files.append(spill / f"annotated-{i:05d}.parquet")
            pl.from_arrow(ray.get(ref)).sort("row_idx").write_parquet(files[-1])
    return done(pl.scan_parquet(files), [], files)
