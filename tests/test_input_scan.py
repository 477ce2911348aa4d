"""curate.input_scan: which files a run reads, what it skips and why, and the names row ids use."""

import json

import pytest

from curate.errors import InputNotFoundError
from curate.input_scan import expand_inputs, scan_inputs
from tests.conftest import ALPACA, ZH

GOOD = {"instruction": "Name a colour.", "input": "", "output": "Blue."}


def test_expand_inputs_folders_and_globs(tmp_path):
    assert len(expand_inputs([ZH])) == 7
    assert expand_inputs([str(ALPACA.parent / "*.jsonl")]) == [ALPACA]


def test_an_earlier_sieve_output_folder_inside_an_input_folder_is_not_read(tmp_path):
    from sieve.cli import run

    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text("".join(line + "\n" for line in ALPACA.read_text(encoding="utf-8").splitlines()[:20]))
    assert run(["curate", str(data), "-o", str(data / "prev")]) == 0
    scan = scan_inputs([data])
    assert scan.files == [data / "a.jsonl"]
    assert any("curated.jsonl (inside" in s and "an earlier Sieve output folder" in s for s in scan.skipped)
    assert scan_inputs([data / "prev" / "curated.jsonl"]).files == [data / "prev" / "curated.jsonl"]  # named: read
    with pytest.raises(InputNotFoundError, match="inside an earlier Sieve output folder"):
        scan_inputs([data / "prev"])


def test_one_file_named_twice_is_read_once(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    p = tmp_path / "d" / "a.jsonl"
    p.write_text(json.dumps(GOOD) + "\n")
    monkeypatch.chdir(tmp_path)
    scan = scan_inputs([p, "d/a.jsonl", tmp_path / "d" / ".." / "d" / "a.jsonl", p])
    assert scan.files == [p] and len(scan.skipped) == 2 and "the same file as" in scan.skipped[0]
