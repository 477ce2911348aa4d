"""``sieve curate`` as a list of named, timed stages over one polars frame.

ingest -> validate -> exact dedup -> near dedup -> signals -> rules. Every stage adds columns; no row
is ever dropped here (rows leave only when outputs are written, each with its reasons).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from curate.contamination import contamination, load_eval_prompts
from curate.dedup_exact import exact_clusters
from curate.dedup_near import near_duplicates
from curate.expected_lang import with_expected_languages
from curate.ingest import FileSummary, IngestResult, ingest
from curate.rules import apply_rules, pick_representatives, verdicts
from curate.signals import content_signals, length_signals, pii_signals, repetition_signals
from curate.signals.language import detect_languages, prose_only
from curate.signals.readability import flesch_reading_ease
from curate.text import near_text, with_views
from schemas.config import CurateConfig
from schemas.records import QuarantineRecord

# A progress hook: (stage name, rows done so far in this stage, total rows of this stage).
ProgressHook = Callable[[str, int, int], None]


@dataclass
class StageTiming:
    name: str
    rows: int
    seconds: float
    peak_rss: int = 0  # the process's peak resident memory at the stage's end, bytes (it never goes down)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class CurateResult:
    """A run's annotated rows and what was learnt reading them. ``frame`` is a DataFrame, or for a streamed
    run a LazyFrame over its chunk files (``parts``, in row order), valid while they exist."""

    frame: pl.DataFrame | pl.LazyFrame
    quarantine: list[QuarantineRecord]
    files: list[FileSummary]
    config: CurateConfig
    stages: list[StageTiming] = field(default_factory=list)
    eval_files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    model_stats: object | None = None  # curate.model_signals.ScoreStats when --model-signals ran
    engine: str = "local"  # "ray": curate.engine_ray ran it
    parts: list[Path] | None = None  # a streamed run's annotated chunks (Parquet), in row order
    languages: tuple[dict, dict] | None = None  # expected languages and mix per file, when decided already
    memory: dict | None = None  # the memory limit, chunking and peak RSS of a local run (curate.engine_stream)


class Stages:
    """Times named stages and reports progress."""

    def __init__(self, hook: ProgressHook | None):
        self.hook = hook or (lambda name, done, total: None)
        self.timings: list[StageTiming] = []
        self.model_stats = None  # curate.model_signals.ScoreStats when model signals ran

    @contextmanager
    def stage(self, name: str, rows: int) -> Iterator[Callable[[int], None]]:
        done = 0
        self.hook(name, 0, rows)

        def advance(n: int) -> None:
            nonlocal done
            done += n
            self.hook(name, min(done, rows), rows)

        start = time.perf_counter()
        yield advance
        self.timings.append(StageTiming(name, rows, time.perf_counter() - start,
                                        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
        self.hook(name, rows, rows)


def curate_frame(frame: pl.DataFrame, cfg: CurateConfig, evals: pl.DataFrame | None = None,
                 stages: Stages | None = None) -> pl.DataFrame:
    """Run every stage after ingestion on a normalised frame; returns the annotated frame."""
    st = stages or Stages(None)
    n = frame.height
    with st.stage("validate", n):
        frame = with_views(frame)
    with st.stage("exact dedup", n):
        frame = exact_clusters(frame, same_prompt=cfg.dedup.same_prompt)
    with st.stage("near dedup", n) as advance:
        frame = _near(frame, cfg, advance)
    with st.stage("signals", n) as advance:
        frame = row_signals(frame, cfg, evals, advance)
    if cfg.model_signals.enabled:
        frame = _model_signals(frame, cfg, st)
    if cfg.dedup.semantic:
        frame = _embeddings(frame, cfg, st)
    with st.stage("rules", n):
        frame = with_expected_languages(frame, cfg.signals)
        frame = apply_rules(frame, cfg)
        frame = pick_representatives(frame, cfg)
        frame = verdicts(frame, cfg)
    return frame


def _near(frame: pl.DataFrame, cfg: CurateConfig, advance: Callable[[int], None]) -> pl.DataFrame:
    if not cfg.dedup.near or frame.height == 0:
        advance(frame.height)
        return frame.with_columns(near_cluster=pl.lit(None, pl.Int64), near_similarity=pl.lit(None, pl.Float32))
    # One text per exact cluster: copies share the near cluster of their first member.
    key = pl.col("norm_prompt") + "\x1f" + pl.col("norm_response")
    firsts = frame.select("row_idx", "norm_prompt", "norm_response", k=key.hash()).unique("k", keep="first",
                                                                                         maintain_order=True)
    advance(frame.height - firsts.height)
    texts = firsts.select(near_text())["text"].to_list()
    res = near_duplicates(texts, cfg.dedup, on_progress=advance)
    cluster = pl.Series(res.cluster)
    # candidate groups only: which rows are near duplicates of a kept row is decided with quality known
    near = firsts.select("k", near_cluster=pl.when(cluster >= 0).then(cluster))
    return (frame.with_columns(k=key.hash()).join(near, on="k", how="left", maintain_order="left").drop("k")
            .with_columns(near_similarity=pl.lit(None, pl.Float32)))


def _embeddings(frame: pl.DataFrame, cfg: CurateConfig, st: Stages) -> pl.DataFrame:
    from curate.embeddings import DIM, embed

    import numpy as np

    with st.stage("embeddings", 2 * frame.height) as advance:
        p, _ = embed(frame["prompt"].to_list(), cfg.model_signals.cache_dir, progress=advance)
        r, _ = embed(frame["response"].to_list(), cfg.model_signals.cache_dir, progress=advance)
    both = p + r  # one vector per row for diversity: the direction of prompt and answer together
    both /= np.maximum(np.linalg.norm(both, axis=1, keepdims=True), 1e-12)
    arr = pl.Array(pl.Float32, DIM)
    return frame.with_columns(embedding=pl.Series(both, dtype=arr), embedding_prompt=pl.Series(p, dtype=arr),
                              embedding_response=pl.Series(r, dtype=arr))


def _model_signals(frame: pl.DataFrame, cfg: CurateConfig, st: Stages) -> pl.DataFrame:
    from curate.model_signals import score_frame

    with st.stage("model signals", frame.height) as advance:
        done = 0

        def progress(now: int, total: int) -> None:  # sequences (two per row) -> rows
            nonlocal done
            advance(now // 2 - done)
            done = now // 2

        scores, stats = score_frame(frame, cfg.model_signals, progress)
    st.model_stats = stats
    return frame.join(scores, on="row_idx", how="left", maintain_order="left")


def row_signals(frame: pl.DataFrame, cfg: CurateConfig, evals: pl.DataFrame | None,
                advance: Callable[[int], None], chunk: int = 200_000) -> pl.DataFrame:
    """Every signal and the contamination check: per row, so any slice of the rows gets the values the
    whole frame would (the Ray engine calls it per batch). Needs the columns of :func:`with_views`."""
    # In chunks: list-valued intermediates (words, 3-grams) of a million rows at once cost gigabytes.
    parts = []
    for start in range(0, max(frame.height, 1), chunk):  # an empty frame still gets every column
        part = frame.slice(start, chunk)
        parts.append(_signals_chunk(part, cfg))
        advance(part.height)
    frame = pl.concat(parts)
    sc_ = cfg.signals
    if evals is not None and evals.height:
        frame = pl.concat([frame, contamination(frame, evals, sc_.contamination_ngram,
                                                       sc_.contamination_min_overlap,
                                                       min_short_words=sc_.contamination_min_words)], how="horizontal")
    else:
        frame = frame.with_columns(contamination_eval_id=pl.lit(None, pl.String),
                                   contamination_overlap=pl.lit(None, pl.Float64))
    return frame


def _signals_chunk(frame: pl.DataFrame, cfg: CurateConfig) -> pl.DataFrame:
    sc = cfg.signals
    frame = frame.with_columns(*length_signals(), *content_signals(cfg.rules),
                               *repetition_signals(), *pii_signals())
    p = detect_languages(frame["prompt"], sc.language_backend, sc.language_min_chars, sc.script_rule)
    r = detect_languages(prose_only(frame["response"]), sc.language_backend, sc.language_min_chars, sc.script_rule)
    frame = frame.with_columns(lang_prompt=p["lang"], lang_prompt_score=p["score"],
                               lang_response=r["lang"], lang_response_score=r["score"])
    readability = flesch_reading_ease(frame["response"]) if sc.readability else pl.lit(None, pl.Float64)
    # Flesch is defined for English only: elsewhere it is not a low score, it is no score
    return frame.with_columns(readability=pl.when(pl.col("lang_response") == "en").then(readability))


def run_curate(inputs: list[str | Path], cfg: CurateConfig, eval_paths: list[str | Path] | None = None,
               hook: ProgressHook | None = None, exclude: list[Path] | None = None) -> CurateResult:
    """Ingest ``inputs`` (nothing under ``exclude``) and run every stage.

    Raises ``InputNotFoundError`` for missing inputs and ``EvalSetError`` for an eval set that is
    missing, unreadable or holds no prompt (a contamination check must never switch itself off)."""
    st = Stages(hook)
    evals = load_eval_prompts(list(eval_paths)) if eval_paths else None
    with st.stage("ingest", 0):
        result: IngestResult = ingest(list(inputs), cfg.ingest.column_map, exclude=exclude,
                                      role_map=cfg.ingest.role_map)
    st.timings[-1].rows = result.frame.height
    frame = curate_frame(result.frame, cfg, evals, st)
    return CurateResult(frame=frame, quarantine=result.quarantine, files=result.files, config=cfg,
                        stages=st.timings, eval_files=[str(p) for p in eval_paths or []], skipped=result.skipped,
                        model_stats=st.model_stats)
