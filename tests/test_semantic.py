"""Semantic duplicates (issue 11, part 2) with the packaged all-MiniLM-L6-v2, and the diverse and deita
selection strategies that use the same embeddings."""

import json

import numpy as np
import polars as pl
import pytest

from curate.dedup_semantic import assign_semantic
from curate.ingest import ingest
from curate.outputs import write_outputs
from curate.pipeline import curate_frame, run_curate
from curate.selection import Budget, select
from schemas.config import CurateConfig
from tests.conftest import ALPACA, rows_at, write_jsonl


def _unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_a_semantic_duplicate_needs_a_close_prompt_and_the_same_answer():
    prompts = _unit([[1, 0, 0], [0.95, 0.3, 0], [0.95, 0.3, 0]])
    answers = _unit([[1, 0, 0], [1, 0.01, 0], [0.6, 0.8, 0]])  # row 2: another answer
    kept_of, sim = assign_semantic(prompts, answers, 0.8, 0.97)
    assert kept_of.tolist() == [-1, 0, -1] and sim[1] > 0.97


def test_no_chaining_through_a_duplicate():
    prompts = _unit([[1, 0], [0.9, 0.44], [0.6, 0.8]])  # 0~1, 1~2, but 0 and 2 are far apart
    answers = _unit([[1, 0], [1, 0], [1, 0]])
    kept_of, _ = assign_semantic(prompts, answers, 0.85, 0.97)
    assert kept_of.tolist() == [-1, 0, -1]


def test_minilm_finds_paraphrased_requests_with_one_answer_and_not_similar_tasks(tmp_path, alpaca_frame):
    jokes = rows_at(alpaca_frame, [743, 10590])  # real: "Generate a funny joke." / "Make up a funny joke."
    assert jokes["messages"][0][1]["content"].lower() == jokes["messages"][1][1]["content"].lower()
    built = [
        {"instruction": "Write a SQL query that returns every customer from the customers table who lives in Paris.",
         "input": "", "output": "SELECT * FROM customers WHERE city = 'Paris';"},
        {"instruction": "Give me an SQL statement to list all customers located in Paris from the customers table.",
         "input": "", "output": "SELECT * FROM customers WHERE city = 'Paris';"},
        {"instruction": "Write a Python function that sorts a list of numbers in ascending order.", "input": "",
         "output": "def sort_numbers(nums):\n    return sorted(nums)"},
        {"instruction": "Write a Python function that sorts a list of numbers in descending order.", "input": "",
         "output": "def sort_numbers(nums):\n    return sorted(nums, reverse=True)"},
    ]
    frame = pl.concat([jokes, ingest([write_jsonl(tmp_path / "b.jsonl", built)]).frame]).with_columns(
        row_idx=pl.int_range(pl.len(), dtype=pl.Int64))
    cfg = CurateConfig.model_validate({"dedup": {"near": False, "exact": False, "semantic": True},
                                       "rules": {"max_response_reuse": None}})
    out = curate_frame(frame, cfg)
    flagged = out["reasons"].list.contains("dedup.semantic").to_list()
    assert sum(flagged[:2]) == 1 and sum(flagged[2:4]) == 1 and flagged[4:] == [False, False]
    loser = out.filter(pl.col("reasons").list.contains("dedup.semantic")).row(0, named=True)
    assert loser["semantic_kept"] in out["row_idx"].to_list() and loser["semantic_similarity"] >= 0.97
    assert out.filter(pl.col("reasons").list.contains("dedup.semantic"))["verdict"].to_list() == ["review", "review"]


@pytest.mark.slow
def test_diverse_and_deita_selections(tmp_path):
    from transformers import AutoTokenizer

    from tests.tiny_model import build_tiny_model

    rows = [json.loads(line) for line in ALPACA.read_text(encoding="utf-8").splitlines()[:80]]
    tok = AutoTokenizer.from_pretrained(build_tiny_model(tmp_path / "tiny", [r["output"] for r in rows]))
    cfg = CurateConfig.model_validate({"dedup": {"semantic": True}})
    write_outputs(run_curate([write_jsonl(tmp_path / "in.jsonl", rows)], cfg), tmp_path / "run")
    assert np.load(tmp_path / "run" / "embeddings.npy").shape == (80, 384)
    diverse = select(tmp_path / "run", "diverse", Budget(rows=10), tokenizer=tok)
    again = select(tmp_path / "run", "diverse", Budget(rows=10), tokenizer=tok)
    assert len(diverse.rows) == 10 and [r["id"] for r in diverse.rows] == [r["id"] for r in again.rows]
    best = select(tmp_path / "run", "quality", Budget(rows=10), tokenizer=tok)
    assert diverse.rows[0]["id"] == best.rows[0]["id"]  # k-center starts from the best row
    deita = select(tmp_path / "run", "deita", Budget(rows=10), tokenizer=tok, deita_max_similarity=0.5)
    from curate.embeddings import embed
    from schemas.config import ModelSignalsConfig

    vecs, _ = embed(["\n".join(m["content"] for m in r["messages"]) for r in deita.rows], ModelSignalsConfig().cache_dir)
    sims = vecs @ vecs.T - np.eye(len(vecs)) * 2
    assert sims.max() <= 0.5 + 1e-6  # no two chosen rows closer than the limit
