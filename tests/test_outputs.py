"""The verdict files lose no part of any row, whatever its verdict and whatever the output format, and
both local engines write them the same. Texts are real (Alpaca 52k, LIMA); only the chat shapes around
them are rewritten to carry one structure problem each."""

import json
from pathlib import Path

import polars as pl
import pytest

from curate.engine_stream import curate_local, spill_space
from curate.formats import to_messages
from curate.outputs import write_outputs
from curate.pipeline import run_curate
from schemas.config import CurateConfig
from tests.conftest import ALPACA, LIMA, write_jsonl

FILES = ("curated.jsonl", "review.jsonl", "rejected.jsonl")
TINY = {"memory": {"chunk_bytes": 16384}}  # a few rows a chunk: the folder below is streamed in parts


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """60 Alpaca rows; ShareGPT rows with two user turns in a row and with an assistant turn first (review);
    chat rows with a tool turn and a narrator turn (drop); real multi-turn LIMA rows and a system prompt."""
    lima = [json.loads(line)["messages"] for line in LIMA.read_text(encoding="utf-8").splitlines()]
    (q1, a1), (q2, a2), (q3, a3) = [(m[0]["content"], m[1]["content"]) for m in lima[:3]]
    out = tmp_path_factory.mktemp("mixed")
    with open(ALPACA, encoding="utf-8") as src:
        (out / "alpaca.jsonl").write_text("".join(next(src) for _ in range(60)), encoding="utf-8")
    sharegpt = [{"conversations": [{"from": "human", "value": q1}, {"from": "human", "value": q2},
                                   {"from": "gpt", "value": a2}]},
                {"conversations": [{"from": "gpt", "value": a1}, {"from": "human", "value": q3},
                                   {"from": "gpt", "value": a3}]}]
    (out / "chat.json").write_text("[\n" + ",\n".join(json.dumps(r) for r in sharegpt) + "\n]\n", encoding="utf-8")
    write_jsonl(out / "tools.jsonl", [
        {"messages": [{"role": "user", "content": q1}, {"role": "assistant", "content": "Let me look that up."},
                      {"role": "tool", "content": a1}, {"role": "assistant", "content": a1}]},
        {"messages": [{"role": "narrator", "content": "The scene opens."}, {"role": "user", "content": q3},
                      {"role": "assistant", "content": a3}]},
        {"messages": [{"role": "system", "content": "Answer as a patient teacher."}, *lima[1000]]},
        {"messages": lima[1001]}])
    return out


def _run(inputs: list, fmt: str, out: Path, streamed: bool = False) -> dict:
    cfg = CurateConfig.model_validate({**TINY, "output_format": fmt})
    if not streamed:
        return write_outputs(run_curate(inputs, cfg), out)
    with spill_space(out) as spill:
        result = curate_local(inputs, cfg, spill)
        assert result.memory["streamed"] and result.memory["chunks"] > 1
        return write_outputs(result, out)


def _turns(rec: dict) -> list[dict]:
    """The conversation a written line holds, read back as Sieve reads Alpaca."""
    return rec["messages"] if "messages" in rec else to_messages(rec, "alpaca")


def _assert_nothing_lost(out: Path) -> list[dict]:
    """Every annotated row is in the file of its verdict, with all its turns; returns the records."""
    annotated = {r["id"]: r for r in pl.read_parquet(out / "annotated.parquet").iter_rows(named=True)}
    records = []
    for name, verdict in zip(FILES, ("keep", "review", "drop")):
        for line in (out / name).read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            row = annotated.pop(rec["sieve"]["id"])
            assert row["verdict"] == verdict and _turns(rec) == row["messages"], (name, rec)
            records.append(rec)
    assert annotated == {}
    return records


def test_auto_chooses_from_every_row_so_review_and_rejected_keep_all_turns(folder, tmp_path):
    man = _run([folder], "auto", tmp_path / "run")
    assert man["output_format"] == "messages" and man["format_fallback"] == {}
    records = _assert_nothing_lost(tmp_path / "run")
    assert all(set(r) == {"messages", "sieve"} for r in records)  # one format in all three files
    by_source = {r["sieve"]["source"].rsplit("/", 1)[1]: r for r in records}
    assert "structure.consecutive_user" in by_source["chat.json:2"]["sieve"]["reasons"]  # in review.jsonl
    assert [m["role"] for m in by_source["chat.json:2"]["messages"]] == ["user", "user", "assistant"]
    assert [m["role"] for m in by_source["chat.json:3"]["messages"]] == ["assistant", "user", "assistant"]
    assert by_source["tools.jsonl:1"]["sieve"]["verdict"] == "drop"  # in rejected.jsonl
    assert [m["role"] for m in by_source["tools.jsonl:1"]["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert "structure.unknown_role" in by_source["tools.jsonl:2"]["sieve"]["reasons"]


def test_alpaca_asked_for_writes_what_alpaca_cannot_hold_whole_and_counts_it(folder, tmp_path):
    man = _run([folder], "alpaca", tmp_path / "run")
    records = _assert_nothing_lost(tmp_path / "run")
    as_messages = [r for r in records if "messages" in r]
    assert all(r["sieve"]["written_as"] == "messages" for r in as_messages)
    assert sum(man["format_fallback"].values()) == len(as_messages) == 4  # 2 in review, 2 rejected
    assert man["format_fallback"] == {"review.jsonl": 2, "rejected.jsonl": 2} and man["output_format"] == "alpaca"
    by_source = {r["sieve"]["source"].rsplit("/", 1)[1]: r for r in records}
    system_row, multi = by_source["tools.jsonl:3"], by_source["tools.jsonl:4"]
    assert system_row["system"] == "Answer as a patient teacher." and len(system_row["history"]) == 1
    assert len(multi["history"]) == 2 and "written_as" not in multi["sieve"]  # LLaMA-Factory history pairs
    alpaca = [r for r in records if r["sieve"]["source"].rsplit("/", 1)[1].startswith("alpaca.jsonl")]
    assert len(alpaca) == 60 and all({"instruction", "input", "output"} <= set(r) for r in alpaca)


def test_single_turn_input_stays_alpaca_in_every_file(tmp_path):
    src = tmp_path / "in.jsonl"
    with open(ALPACA, encoding="utf-8") as fh:
        src.write_text("".join(next(fh) for _ in range(200)), encoding="utf-8")
    man = _run([src], "auto", tmp_path / "run")
    assert man["output_format"] == "alpaca" and man["counts"]["review"] + man["counts"]["drop"] > 0
    records = _assert_nothing_lost(tmp_path / "run")
    assert all("messages" not in r for r in records)


def test_auto_is_alpaca_only_where_every_row_reads_back_from_alpaca(tmp_path):
    """Single-turn rows, but one with an empty system prompt (an Alpaca row cannot hold it) and one with
    two system turns: auto picks messages, so no file mixes the two forms."""
    rows = [json.loads(line) for line in ALPACA.read_text(encoding="utf-8").splitlines()[:3]]
    chats = [[{"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["output"]}] for r in rows]
    for extra in ([{"role": "system", "content": ""}], [{"role": "system", "content": "Be brief."}] * 2):
        src = write_jsonl(tmp_path / "in.jsonl", [{"messages": chats[0]}, {"messages": extra + chats[1]},
                                                  {"messages": [{"role": "system", "content": "Be brief."}, *chats[2]]}])
        out = tmp_path / f"run{len(extra)}"
        man = _run([src], "auto", out)
        assert man["output_format"] == "messages" and man["format_fallback"] == {}
        _assert_nothing_lost(out)
    man = _run([write_jsonl(tmp_path / "ok.jsonl", [{"messages": [{"role": "system", "content": "Be brief."}, *c]}
                                                   for c in chats])], "auto", tmp_path / "ok")
    assert man["output_format"] == "alpaca"


@pytest.mark.parametrize("fmt", ["auto", "alpaca"])
def test_the_streamed_engine_writes_the_same_files(folder, tmp_path, fmt):
    memory = _run([folder], fmt, tmp_path / "memory")
    streamed = _run([folder], fmt, tmp_path / "streamed", streamed=True)
    _assert_nothing_lost(tmp_path / "streamed")
    for name in FILES:
        assert (tmp_path / "streamed" / name).read_bytes() == (tmp_path / "memory" / name).read_bytes(), name
    for key in ("counts", "output_format", "format_fallback"):
        assert streamed[key] == memory[key], key
