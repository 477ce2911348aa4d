"""Shared fixtures: the real data beside the repo, and small helpers that run our own code on it."""

from __future__ import annotations

import json
import os
import random
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


# what a verdict is made of: a difference here is a different decision, not a rounding
DECISION = ["row_idx", "id", "source_file", "source_line", "verdict", "reasons", "dup_cluster", "exact_cluster",
            "near_cluster", "prompt_cluster", "response_reuse", "expected_langs"]


def _edit(text: str, share: float, rng: random.Random) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), max(1, int(len(words) * share))):
        words[i] = rng.choice(["alpha", "kettle", "orange", "window", "seven"])
    return " ".join(words)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Six input files with near duplicates (a few % of words edited, and graded 5-25% variants of one
    row: groups where the kept-member rule matters), exact copies, same-prompt rows and arithmetic that
    differs by one symbol, spread over files, byte ranges and formats."""
    rng = random.Random(0)
    rows = [json.loads(line) for line in ALPACA.read_text(encoding="utf-8").splitlines()[:2000]]
    long = [r for r in rows if len(r["output"].split()) >= 60][:320]
    near = lambda r, share: {**r, "output": _edit(r["output"], share, rng)}  # noqa: E731
    a = long[:300] + [near(r, 0.03) for r in long[:20]] + long[20:25]
    a += [near(long[30 + k // 4], 0.05 * (1 + k % 4)) for k in range(20)]
    b = [near(r, 0.03) for r in long[100:120]] + long[40:45] + [{**r, "output": long[0]["output"]} for r in long[50:55]]
    b += [{"instruction": f"What is 45 {op} 15? Show the working in a sentence or two.", "input": "",
           "output": f"To work it out, take 45 and {word} 15, which gives {val}. So 45 {op} 15 = {val}."}
          for op, word, val in [("+", "add", 60), ("-", "subtract", 30), ("+", "add", 60)]]
    c = [{"messages": [{"role": "user", "content": r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")},
                       {"role": "assistant", "content": _edit(r["output"], 0.03, rng)}]} for r in long[200:210]]
    folder = tmp_path_factory.mktemp("built")
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in a), encoding="utf-8")
    (folder / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in b), encoding="utf-8")
    (folder / "c.json").write_text(json.dumps(c + [{"instruction": "no answer here"}]), encoding="utf-8")
    # one broken line: byte ranges find it and the whole file goes the row-by-row way, as it does locally
    d = [json.dumps(near(r, 0.03)) for r in long[150:170]]
    (folder / "d.jsonl").write_text("\n".join(d[:10] + ["{not json"] + d[10:]) + "\n", encoding="utf-8")
    # two files of one name with the same rows on the same lines (a data set and its next version): their
    # rows' ids differ all the same (curate.input_scan.id_names)
    for version in ("v1", "v2"):
        (folder / version).mkdir()
        (folder / version / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in long[250:256]), encoding="utf-8")
    return folder


