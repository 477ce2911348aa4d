"""Ingestion of every real data set: formats, exact row counts, round trips and row-level errors."""

import json

import pytest

from curate.formats import to_alpaca, to_messages
from curate.ingest import ingest
from schemas import Example
from tests.conftest import ALPACA, DATA, EVAL_OUT, LIMA, SELF_INSTRUCT, SHAREGPT, ZH, write_jsonl


def test_alpaca_52k(alpaca_frame):
    assert alpaca_frame.height == 52002
    assert alpaca_frame["format"].unique().to_list() == ["alpaca"]
    assert alpaca_frame["id"].n_unique() == 52002


@pytest.mark.parametrize("path, rows, fmt", [
    (LIMA, 1029, "messages"), (SHAREGPT, 500, "sharegpt"), (SELF_INSTRUCT, 252, "alpaca"),
])
def test_chat_and_small_sets(path, rows, fmt):
    res = ingest([path])
    assert res.frame.height == rows and res.quarantine == [] and res.exit_code == 0
    assert res.files[0].format == fmt


def test_alpaca_eval_outputs_805_each():
    res = ingest([EVAL_OUT])
    assert [f.rows for f in res.files] == [805] * 6


def test_chinese_translations_with_the_broken_file():
    res = ingest([ZH])
    by_name = {f.path.rsplit("/", 1)[-1]: f.rows for f in res.files}
    broken = "alpaca_data-9407-12345-中文-未完成.json"
    assert sum(v for k, v in by_name.items() if k != broken) == 17476
    assert by_name[broken] == 2801
    assert res.exit_code == 3 and len(res.quarantine) == 1


def test_the_row_without_input_is_read():
    res = ingest([ZH / "alpaca_data-6382-9407-（jlh）中文-已完成.json"])
    metas = [json.loads(m) for m in res.frame["metadata"]]
    assert res.frame.height == 3022 and sum("input" not in m for m in metas) == 1


def test_rows_validate_as_examples_and_round_trip(alpaca_frame):
    for row in alpaca_frame.head(300).iter_rows(named=True):
        meta = json.loads(row["metadata"])
        Example(**{k: v for k, v in row.items() if k != "row_idx"} | {"metadata": meta})
        assert to_alpaca(row["messages"], meta) == meta  # Alpaca back exactly as it was
        assert to_messages(to_alpaca(row["messages"]), "alpaca") == row["messages"]
    lima = ingest([LIMA]).frame
    for row in lima.iter_rows(named=True):
        assert to_messages(json.loads(row["metadata"]), "messages") == row["messages"]


def test_alpaca_input_joined_with_a_blank_line(alpaca_frame):
    row = alpaca_frame.filter(alpaca_frame["source_line"] == 6).row(0, named=True)
    assert row["messages"][0]["content"] == "Identify the odd one out.\n\nTwitter, Instagram, Telegram"


def test_row_level_problems_are_quarantined_with_their_field(tmp_path):
    p = write_jsonl(tmp_path / "mixed.jsonl", [
        {"instruction": "ok", "output": "yes"},
        {"instruction": "no output here"},
        {"messages": [{"role": "user", "content": "hi"}, {"content": "no role"}]},
        {"instruction": "list output", "output": ["a"]},
    ])
    res = ingest([p])
    assert res.frame.height == 1
    got = [(q.line, q.code, q.field) for q in res.quarantine]
    assert got == [(2, "read.missing_field", "output"), (3, "read.missing_field", "messages[1].role"),
                   (4, "read.bad_type", "output")]


def test_unknown_role_is_kept_and_flagged_later(tmp_path):
    p = write_jsonl(tmp_path / "roles.jsonl", [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "beep"}]}])
    res = ingest([p])
    assert res.frame["messages"][0].to_list()[1]["role"] == "robot"


def test_aliases_column_map_and_prompt_completion(tmp_path):
    a = write_jsonl(tmp_path / "qa.jsonl", [{"question": "Q?", "context": "C", "answer": "A"}])
    assert ingest([a]).frame["messages"][0].to_list()[0]["content"] == "Q?\n\nC"
    b = write_jsonl(tmp_path / "pc.jsonl", [{"prompt": "P", "completion": "C"}])
    assert ingest([b]).files[0].format == "prompt_completion"
    c = write_jsonl(tmp_path / "odd.jsonl", [{"ask": "A?", "reply": "B"}])
    res = ingest([c])
    assert res.frame.height == 0 and res.exit_code == 4 and res.quarantine[0].code == "read.unknown_format"
    res = ingest([c], column_map={"ask": "instruction", "reply": "output"})
    assert res.frame.height == 1 and res.frame["format"][0] == "column_map"


def test_a_column_map_that_gives_two_fields_one_name_quarantines_those_rows(tmp_path):
    """Two sources for one field (or a source and a field already so named) in one row: renaming would
    lose a value, so the row is quarantined naming both; rows with one of them read. Both read paths."""
    rows = [{"q": "What is two plus two?", "ctx": "Arithmetic.", "a": "Four."},
            {"q": "Name a primary colour.", "a": "Red."},
            {"q": "Spell cat.", "instruction": "Spell dog.", "a": "C-A-T."}]
    cmap = {"q": "instruction", "ctx": "instruction", "a": "output"}
    for name, given in (("mixed.jsonl", rows), ("clean.jsonl", [rows[0]] * 3)):  # the second: the fast path's shape
        res = ingest([write_jsonl(tmp_path / name, given)], column_map=cmap)
        want = [(1, "ctx"), (3, "instruction")] if name == "mixed.jsonl" else [(1, "ctx"), (2, "ctx"), (3, "ctx")]
        assert [(q.line, q.field) for q in res.quarantine] == want and {q.code for q in res.quarantine} == {"read.column_map"}
        assert res.frame.height == 3 - len(want)
    assert "would both become 'instruction'" in res.quarantine[0].error


def test_a_key_first_seen_late_in_a_file_is_never_dropped(tmp_path):
    """polars infers columns from the first 100 rows by default: an input, or a column-map clash, first
    met at row 151 must still be read (or quarantined), on the fast path as on any other."""
    rows = [json.loads(line) for line in ALPACA.read_text(encoding="utf-8").splitlines()[:200]]
    plain = [{"instruction": r["instruction"], "output": r["output"]} for r in rows[:150]]
    late = {"instruction": "Translate this to English.", "input": "Bonjour le monde", "output": "Hello world"}
    res = ingest([write_jsonl(tmp_path / "late.jsonl", plain + [late])])
    assert res.quarantine == [] and res.frame["messages"][150].to_list()[0]["content"] == (
        "Translate this to English.\n\nBonjour le monde")
    qa = [{"q": r["instruction"], "a": r["output"]} for r in plain] + [{"q": "Spell cat.", "ctx": "Spelling.", "a": "C-A-T."}]
    res = ingest([write_jsonl(tmp_path / "qa.jsonl", qa)], column_map={"q": "instruction", "ctx": "instruction", "a": "output"})
    assert [(q.line, q.code) for q in res.quarantine] == [(151, "read.column_map")] and res.frame.height == 150


def test_prompt_only_file_is_quarantined_not_dropped():
    res = ingest([DATA / "alpaca_eval" / "alpaca_eval_805_prompts_with_refs.jsonl"])
    assert res.frame.height == 0 and len(res.quarantine) == 805


def test_files_of_one_name_give_their_rows_distinct_ids(tmp_path):
    """Ids hash the file's name, so they stay when the data moves; two input files of one name with the
    same rows (a data set and its next version) are told apart by their folders."""
    rows = "".join(line + "\n" for line in ALPACA.read_text(encoding="utf-8").splitlines()[:5])
    for folder in ("v1", "v2", "moved"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "train.jsonl").write_text(rows, encoding="utf-8")
    both = ingest([tmp_path / "v1", tmp_path / "v2"]).frame
    assert both["id"].n_unique() == 10
    alone = ingest([tmp_path / "v1"]).frame["id"].to_list()
    assert ingest([tmp_path / "moved" / "train.jsonl"]).frame["id"].to_list() == alone  # the name alone
    assert alone != both["id"].to_list()[:5]
