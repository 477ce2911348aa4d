"""Reading rows into messages and writing them back: text fields must hold text, and the way back to
Alpaca never drops a turn. Texts are real LIMA and Alpaca rows; the values around them are the ones
users meet in exports (numbers, booleans, nulls)."""

import json

import pytest

from curate.formats import NotAlpacaError, RowError, to_alpaca, to_messages
from curate.ingest import ingest
from tests.conftest import ALPACA, LIMA, write_jsonl

LIMA_ROWS = [json.loads(line)["messages"] for line in LIMA.read_text(encoding="utf-8").splitlines()]
ALPACA_ROW = json.loads(ALPACA.read_text(encoding="utf-8").split("\n", 1)[0])


def test_numbers_and_booleans_where_text_belongs_are_quarantined_with_their_field(tmp_path):
    (q, a) = (LIMA_ROWS[0][0]["content"], LIMA_ROWS[0][1]["content"])
    path = write_jsonl(tmp_path / "values.jsonl", [
        {"instruction": 123, "input": None, "output": 456.5},
        {"instruction": True, "input": "", "output": False},
        {**ALPACA_ROW, "input": None},  # null input: an empty input, as real exports write it
        {**ALPACA_ROW, "input": 7},
        {**ALPACA_ROW, "output": 0},
        {**ALPACA_ROW, "system": 1},
        {**ALPACA_ROW, "history": [[q, 42]]},
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": 3.14}]},
        {"conversations": [{"from": "human", "value": True}, {"from": "gpt", "value": a}]},
    ])
    res = ingest([path])
    assert [(q.line, q.code, q.field) for q in res.quarantine] == [
        (1, "read.bad_type", "instruction"), (2, "read.bad_type", "instruction"), (4, "read.bad_type", "input"),
        (5, "read.bad_type", "output"), (6, "read.bad_type", "system"), (7, "read.bad_type", "history[0]"),
        (8, "read.bad_type", "messages[1].content"), (9, "read.bad_type", "conversations[0].value")]
    assert "must be text, got int" in res.quarantine[0].error and str(path) == res.quarantine[0].source_file
    assert res.frame["source_line"].to_list() == [3]
    assert res.frame["messages"][0].to_list() == [{"role": "user", "content": ALPACA_ROW["instruction"]},
                                                  {"role": "assistant", "content": ALPACA_ROW["output"]}]


def test_a_number_among_strings_is_quarantined_on_the_fast_path_too(tmp_path):
    rows = [json.loads(line) for line in ALPACA.read_text(encoding="utf-8").splitlines()[:3]]
    path = write_jsonl(tmp_path / "mixed.jsonl", [*rows, {"instruction": "What is 6 times 7?", "input": "", "output": 42}])
    res = ingest([path])
    assert [(q.line, q.field) for q in res.quarantine] == [(4, "output")] and res.frame.height == 3


def test_to_alpaca_writes_every_turn_and_reads_back_the_same():
    system = [{"role": "system", "content": "Answer as a patient teacher."}]
    for messages in (LIMA_ROWS[0], LIMA_ROWS[1000], LIMA_ROWS[1001], system + LIMA_ROWS[1001]):
        row = to_alpaca(messages)
        assert to_messages(row, "alpaca") == messages
        pairs = len([m for m in messages if m["role"] != "system"]) // 2
        assert len(row.get("history", [])) == pairs - 1 and ("system" in row) == (messages[0]["role"] == "system")
    assert set(to_alpaca(LIMA_ROWS[0])) == {"instruction", "input", "output"}
    original = {**ALPACA_ROW, "history": [["Hi", "Hello!"]], "system": "Be brief."}
    assert to_alpaca(to_messages(original, "alpaca"), original) == original  # original fields, history kept


@pytest.mark.parametrize("roles", [
    ["user", "user", "assistant"],                      # two user turns in a row
    ["assistant", "user", "assistant"],                 # an assistant turn first
    ["user", "assistant", "tool", "assistant"],         # a tool turn
    ["narrator", "user", "assistant"],                  # a role Sieve does not know
    ["user", "assistant", "user"],                      # no answer to the last turn
    ["system", "system", "user", "assistant"],          # two system prompts
    ["user", "assistant", "system", "user", "assistant"],  # a system prompt mid-way
])
def test_to_alpaca_refuses_what_alpaca_cannot_hold(roles):
    texts = [m["content"] for m in LIMA_ROWS[1001]] * 2
    with pytest.raises(NotAlpacaError, match="roles"):
        to_alpaca([{"role": r, "content": t} for r, t in zip(roles, texts)])


def test_an_empty_system_prompt_is_not_dropped_on_the_way_to_alpaca():
    with pytest.raises(NotAlpacaError):  # Alpaca readers skip "system": "", so the turn would vanish
        to_alpaca([{"role": "system", "content": ""}, *LIMA_ROWS[0]])


def test_row_errors_name_the_field():
    with pytest.raises(RowError) as err:
        to_messages({"instruction": "Add 2 and 2.", "output": 4}, "alpaca")
    assert (err.value.field, err.value.code) == ("output", "read.bad_type")
