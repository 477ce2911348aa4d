"""Shared fixtures: the real data beside the repo, and small helpers that run our own code on it."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
ALPACA = DATA / "alpaca_52k" / "alpaca_data_52k.jsonl"
LIMA = DATA / "lima" / "lima_1029_messages.jsonl"
SHAREGPT = DATA / "sharegpt_dummy" / "dummy_conversation.json"
ZH = DATA / "alpaca_zh_partial" / "original"
EVAL_OUT = DATA / "alpaca_eval" / "outputs"
SELF_INSTRUCT = DATA / "self_instruct_252" / "user_oriented_252_alpaca.jsonl"

if not DATA.is_dir():  # the suite is about real data: say so loudly rather than skip everything
    raise RuntimeError(f"{DATA} is missing: the tests read the real data sets in ../shared/data")


@pytest.fixture(scope="session")
def alpaca_frame() -> pl.DataFrame:
    from curate.ingest import ingest

    return ingest([ALPACA]).frame


def rows_at(frame: pl.DataFrame, lines: list[int], file_suffix: str | None = None) -> pl.DataFrame:
    """The rows of ``frame`` at these source lines (optionally of one file), renumbered from 0."""
    sel = frame.filter(pl.col("source_line").is_in(lines))
    if file_suffix:
        sel = sel.filter(pl.col("source_file").str.ends_with(file_suffix))
    return sel.with_columns(row_idx=pl.int_range(pl.len(), dtype=pl.Int64))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    import json

    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path
