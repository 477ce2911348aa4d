"""Bad input never stops a run or loses a row silently: one test per case."""

import gzip
import json

import polars as pl

import pytest

from curate.ingest import ingest
from curate.readers import read_file
from tests.conftest import ALPACA, ZH

GOOD = {"instruction": "Name a colour.", "input": "", "output": "Blue."}


def test_malformed_jsonl_line_is_quarantined_with_line_and_column(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps(GOOD) + "\n" + '{"instruction": "x", "output": }\n' + json.dumps(GOOD) + "\n")
    raw = read_file(p)
    assert [line for line, _ in raw.rows] == [1, 3]
    (bad,) = raw.quarantine
    assert (bad.line, bad.column, bad.code) == (2, 32, "read.json_syntax")
    assert bad.raw.startswith('{"instruction": "x"')


def test_non_utf8_bytes_are_quarantined_and_the_rest_read(tmp_path):
    p = tmp_path / "latin1.jsonl"
    p.write_bytes(json.dumps(GOOD).encode() + b"\n" + '{"instruction": "caf\xe9", "output": "x"}'.encode("latin-1")
                  + b"\n" + json.dumps(GOOD).encode() + b"\n")
    raw = read_file(p)
    assert len(raw.rows) == 2
    (bad,) = raw.quarantine
    assert (bad.line, bad.column, bad.field, bad.code) == (2, 21, "instruction", "read.encoding")


def test_non_utf8_bytes_inside_a_json_array(tmp_path):
    p = tmp_path / "arr.json"
    p.write_bytes(b'[\n {"instruction": "ok", "output": "fine"},\n {"instruction": "caf\xe9", "output": "x"}\n]')
    raw = read_file(p)
    assert len(raw.rows) == 1
    assert [(q.line, q.code) for q in raw.quarantine] == [(3, "read.encoding")]


def test_real_broken_json_array_is_read_element_by_element():
    broken = ZH / "alpaca_data-9407-12345-中文-未完成.json"
    raw = read_file(broken)
    assert len(raw.rows) == 2801  # every element of the file (it only has a stray trailing comma)
    (q,) = raw.quarantine
    assert q.code == "read.json_syntax" and "trailing comma" in q.error
    assert (q.line, q.column) == (14006, 6)


def test_a_broken_element_costs_only_itself(tmp_path):
    p = tmp_path / "arr.json"
    p.write_text('[\n{"instruction": "a", "output": "1"},\n{"instruction": "b", "output": 2 3},\n'
                 '{"instruction": "c", "output": "3"}\n]')
    raw = read_file(p)
    assert [obj["instruction"] for _, obj in raw.rows] == ["a", "c"]
    assert [(q.line, q.code) for q in raw.quarantine] == [(3, "read.json_syntax")]


def test_truncated_array_keeps_what_was_read(tmp_path):
    p = tmp_path / "cut.json"
    p.write_text('[{"instruction": "a", "output": "1"}, {"instruction": "b", "outp')
    raw = read_file(p)
    assert len(raw.rows) == 1 and raw.quarantine and raw.quarantine[0].code == "read.json_syntax"


def test_empty_file(tmp_path):
    p = tmp_path / "empty.jsonl"
    p.write_text("\n\n")
    raw = read_file(p)
    assert raw.rows == [] and [q.code for q in raw.quarantine] == ["read.empty_file"]


def test_gzip_csv_and_parquet(tmp_path):
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress((json.dumps(GOOD) + "\n").encode()))
    assert read_file(gz).rows[0][1] == GOOD
    csv = tmp_path / "a.csv"
    csv.write_text('instruction,input,output\n"Say hi, please",,Hi\nbroken,row,with,extra\n')
    raw = read_file(csv)
    assert raw.rows == [(2, {"instruction": "Say hi, please", "input": "", "output": "Hi"})]
    assert [(q.line, q.code) for q in raw.quarantine] == [(3, "read.csv_syntax")]
    pq = tmp_path / "a.parquet"
    pl.DataFrame([GOOD, GOOD]).write_parquet(pq)
    assert len(read_file(pq).rows) == 2


def test_every_member_of_a_multi_member_gzip_file_is_read(tmp_path):
    """Concatenated gzip files (and bgzip) are one gzip file with several members: gzip reads them all,
    and so does Sieve. Zero padding after the last member is ignored; other trailing bytes are reported."""
    rows = [{**GOOD, "output": f"Colour {i}."} for i in range(6)]
    members = [gzip.compress("".join(json.dumps(r) + "\n" for r in rows[i:i + 2]).encode()) for i in (0, 2, 4)]
    gz = tmp_path / "joined.jsonl.gz"
    gz.write_bytes(b"".join(members) + b"\x00" * 16)
    raw = read_file(gz)
    assert [r for _, r in raw.rows] == rows and [line for line, _ in raw.rows] == [1, 2, 3, 4, 5, 6]
    assert raw.quarantine == []
    gz.write_bytes(b"".join(members) + b"not gzip")
    raw = read_file(gz)
    assert [r for _, r in raw.rows] == rows and [q.code for q in raw.quarantine] == ["read.gzip"]
    assert "8 bytes after the end of the gzip data" in raw.quarantine[0].error


def test_a_gz_name_does_not_make_a_file_gzip(tmp_path):
    """Gzip is told by its magic bytes: a plain JSONL file named .gz is read, an empty one is only empty."""
    plain = tmp_path / "plain.jsonl.gz"
    plain.write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n")
    raw = read_file(plain)
    assert [r for _, r in raw.rows] == [GOOD, GOOD] and raw.quarantine == []
    empty = tmp_path / "empty.jsonl.gz"
    empty.write_bytes(b"")
    assert [q.code for q in read_file(empty).quarantine] == ["read.empty_file"]


def test_half_a_surrogate_pair_is_quarantined_and_a_whole_pair_kept(tmp_path):
    """A JSON escape of half a UTF-16 pair decodes to no character: Python keeps a lone surrogate (no UTF-8
    for it: the run crashed at the first write), polars a NUL (the text changed silently). Such a row is
    quarantined with its line, column and field, on the fast path's files too; an escaped emoji is one
    character, and an escaped backslash before "ud800" is text."""
    rows = ['{"instruction": "Name a colour.", "input": "", "output": "Blue \\ud83d\\ude00"}',
            '{"instruction": "Half \\ud800 a pair.", "input": "", "output": "Red."}',
            '{"instruction": "Name a fruit.", "input": "", "output": "A low half: \\udc00."}',
            '{"instruction": "A path like C:\\\\ud800 is text.", "input": "", "output": "Green."}']
    p = tmp_path / "a.jsonl"
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    for raw in (read_file(p), ingest([p])):
        assert [(q.line, q.column, q.field, q.code) for q in raw.quarantine] == [
            (2, rows[1].index("\\ud800") + 1, "instruction", "read.encoding"),
            (3, rows[2].index("\\udc00") + 1, "output", "read.encoding")]
        assert "lone UTF-16 surrogate (\\ud800)" in raw.quarantine[0].error
    frame = ingest([p]).frame
    assert frame["source_line"].to_list() == [1, 4]
    assert frame["messages"][0][1]["content"] == "Blue \U0001f600"
    assert frame["messages"][1][0]["content"] == "A path like C:\\ud800 is text."
    arr = tmp_path / "b.json"
    arr.write_text("[\n" + ",\n".join(rows) + "\n]", encoding="utf-8")
    assert [(q.line, q.field) for q in read_file(arr).quarantine] == [(3, "instruction"), (4, "output")]


def test_parquet_rows_count_from_1_as_lines_do(tmp_path):
    pq = tmp_path / "a.parquet"
    pl.DataFrame([GOOD, {**GOOD, "output": None}]).write_parquet(pq)
    assert [line for line, _ in read_file(pq).rows] == [1, 2]
    assert [(q.line, q.field) for q in ingest([pq]).quarantine] == [(2, "output")]


def test_tsv_and_lines_ended_by_cr_alone(tmp_path):
    tsv = tmp_path / "a.tsv"
    tsv.write_text('instruction\tinput\toutput\n"Hello" is a word, say it\t\tHi\n', encoding="utf-8")
    # no quoting in TSV: a quote is text
    assert read_file(tsv).rows == [(2, {"instruction": '"Hello" is a word, say it', "input": "", "output": "Hi"})]
    mac = tmp_path / "mac.jsonl"
    mac.write_bytes(b"\r".join(json.dumps({**GOOD, "output": f"Colour {i}."}).encode() for i in range(3)) + b"\r")
    raw = read_file(mac)
    assert [line for line, _ in raw.rows] == [1, 2, 3] and raw.quarantine == []


@pytest.mark.parametrize("name, text", [("a.json", "[]"), ("w.json", '{"data": []}'), ("h.csv", "instruction,output\n")])
def test_a_file_that_holds_no_rows_says_so(tmp_path, name, text):
    """Nothing read and nothing quarantined would leave 'nothing could be read' with an empty quarantine."""
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    raw = read_file(f)
    assert raw.rows == [] and [(q.code, q.error) for q in raw.quarantine] == [("read.empty_file", "the file holds no rows")]
