"""Every failure is one line and a documented exit code; outputs are whole or absent (issue 8,
points 6-10 and 12, curate side). Each case is a small built file cut from the real Alpaca data."""

import fcntl
import gzip
import json
import os
import subprocess
import sys

import polars as pl
import pytest

from curate.errors import IncompleteRunError
from curate.ingest import ingest
from curate.readers import read_file
from curate.run_folder import LOCK, read_manifest
from sieve.cli import run
from tests.conftest import ALPACA, ROOT

GOOD = [json.loads(line) for line in ALPACA.read_text(encoding="utf-8").splitlines()[:20]]


def _jsonl(rows) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _sieve(*args: str) -> subprocess.CompletedProcess:
    """The installed entry point in a child, as a user runs it (no traceback may reach stderr)."""
    proc = subprocess.run([sys.executable, "-m", "sieve.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "SIEVE_DEBUG": "0"})
    assert "Traceback" not in proc.stderr + proc.stdout
    return proc


def test_nothing_readable_exits_4_with_quarantine_and_a_manifest_of_zeros(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n{broken\n", encoding="utf-8")
    proc = _sieve("curate", str(bad), "-o", str(tmp_path / "run"))
    assert proc.returncode == 4, proc.stderr
    man = read_manifest(tmp_path / "run")
    assert man["counts"]["rows"] == 0 and man["counts"]["quarantined"] == 2
    assert len((tmp_path / "run" / "quarantine.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("content", [b"", b"  \n\t\n"])
def test_empty_and_whitespace_files_are_quarantined_not_a_crash(tmp_path, content):
    f = tmp_path / "e.jsonl"
    f.write_bytes(content)
    assert run(["curate", str(f), "-o", str(tmp_path / "run")]) == 4
    assert read_file(f).quarantine[0].code == "read.empty_file"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_bom_and_utf16_files_lose_no_row(tmp_path, encoding):
    f = tmp_path / "b.jsonl"
    f.write_bytes(_jsonl(GOOD[:5]).encode(encoding))
    res = ingest([f])
    assert res.frame.height == 5 and res.quarantine == []
    assert res.frame["messages"][0][0]["content"] == GOOD[0]["instruction"]


def test_json_nested_too_deep_is_quarantined_and_the_run_goes_on(tmp_path):
    deep = '{"instruction": "x", "output": ' + "[" * 100_000 + "]" * 100_000 + "}"
    f = tmp_path / "d.jsonl"
    f.write_text(deep + "\n" + _jsonl(GOOD[:3]), encoding="utf-8")
    res = ingest([f])
    assert res.frame.height == 3 and [q.code for q in res.quarantine] == ["read.json_too_deep"]
    assert res.quarantine[0].line == 1


def test_truncated_gzip_keeps_rows_before_the_cut(tmp_path):
    data = gzip.compress(_jsonl(GOOD).encode())
    f = tmp_path / "cut.jsonl.gz"
    f.write_bytes(data[: len(data) // 2])
    res = ingest([f])
    codes = [q.code for q in res.quarantine]
    assert 0 < res.frame.height < len(GOOD) and "read.gzip" in codes and "read.json_syntax" in codes
    kept = [m[0]["content"] for m in res.frame["messages"]]
    assert kept == [r["instruction"] + (f"\n\n{r['input']}" if r["input"] else "") for r in GOOD[: len(kept)]]


def test_an_unreadable_file_is_quarantined_and_the_others_go_on(tmp_path):
    (tmp_path / "good.jsonl").write_text(_jsonl(GOOD[:4]), encoding="utf-8")
    (tmp_path / "gone.jsonl").symlink_to(tmp_path / "missing.jsonl")  # unreadable even for root
    res = ingest([tmp_path])
    assert res.frame.height == 4
    assert [q.code for q in res.quarantine] == ["read.unreadable"] and "gone.jsonl" in res.quarantine[0].source_file
    if os.geteuid() != 0:  # a permission-denied file, where permissions apply
        (tmp_path / "locked.jsonl").write_text(_jsonl(GOOD[:2]), encoding="utf-8")
        os.chmod(tmp_path / "locked.jsonl", 0)
        assert [q.code for q in ingest([tmp_path]).quarantine].count("read.unreadable") == 2


def test_a_folder_mixing_clean_alpaca_with_other_formats(tmp_path):
    (tmp_path / "a.jsonl").write_text(_jsonl(GOOD[:5]), encoding="utf-8")  # the fast path
    chats = [{"messages": [{"role": "user", "content": r["instruction"]},
                           {"role": "assistant", "content": r["output"]}]} for r in GOOD[5:10]]
    (tmp_path / "b.jsonl").write_text(_jsonl(chats), encoding="utf-8")
    (tmp_path / "c.csv").write_text("instruction,input,output\nSay hi,,Hello there my friend.\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not data", encoding="utf-8")
    out = tmp_path / "run"
    assert run(["curate", str(tmp_path), "-o", str(out)]) == 0
    man = read_manifest(out)
    assert man["counts"]["rows"] == 11
    assert any("notes.txt" in s for s in man["skipped_inputs"])
    # a second run into a folder inside the input folder never reads its own outputs back
    assert run(["curate", str(tmp_path), "-o", str(out)]) == 0
    man = read_manifest(out)
    assert man["counts"]["rows"] == 11 and any("inside the output folder" in s for s in man["skipped_inputs"])


def test_output_that_is_a_file_or_unwritable_fails_before_the_pipeline(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text(_jsonl(GOOD[:3]), encoding="utf-8")
    proc = _sieve("curate", str(f), "-o", str(f))
    assert proc.returncode == 2 and "is a file" in proc.stderr
    assert f.read_text(encoding="utf-8") == _jsonl(GOOD[:3])


@pytest.mark.parametrize("toml, key", [
    ("[rules]\nmax_junk_share = -1\n", "rules.max_junk_share"),
    ("[dedup]\nthreshold = 1.5\n", "dedup.threshold"),
    ("[quality]\nw_length = 0.9\n", "quality"),
])
def test_out_of_range_config_values_exit_2_naming_the_key(tmp_path, toml, key):
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml, encoding="utf-8")
    proc = _sieve("curate", str(ALPACA), "-o", str(tmp_path / "run"), "-c", str(cfg))
    assert proc.returncode == 2 and key in proc.stderr


def test_config_folder_and_bad_column_map_destination_exit_2(tmp_path):
    proc = _sieve("curate", str(ALPACA), "-o", str(tmp_path / "run"), "-c", str(tmp_path))
    assert proc.returncode == 2 and "is a folder" in proc.stderr
    proc = _sieve("curate", str(ALPACA), "-o", str(tmp_path / "run"), "-m", "question=instrucion")
    assert proc.returncode == 2 and "--column-map" in proc.stderr and "instrucion" in proc.stderr
    cfg = tmp_path / "fine.toml"
    cfg.write_text("[rules]\nmin_response_chars = 5\n", encoding="utf-8")
    proc = _sieve("curate", str(ALPACA), "-o", str(tmp_path / "run"), "-c", str(cfg), "--engine", "spark")
    assert proc.returncode == 2 and "--engine 'spark'" in proc.stderr and "fine.toml" not in proc.stderr
    proc = _sieve("curate", str(ALPACA), "-o", str(tmp_path / "run"), "-m", "a=instruction", "-m", "a=output")
    assert proc.returncode == 2 and "'a' is given twice" in proc.stderr and not (tmp_path / "run").exists()


def test_nan_never_reaches_jsonl_and_duplicate_keys_are_flagged_on_both_paths(tmp_path):
    nan = '{"instruction": "What is NaN?", "input": "", "output": "Not a number at all.", "score": NaN}\n'
    dup = '{"instruction": "a", "instruction": "b", "input": "", "output": "Which instruction?"}\n'
    for name, text in [("nan.jsonl", nan), ("dup.jsonl", dup + _jsonl(GOOD[:3]))]:
        (tmp_path / name).write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    assert run(["curate", str(tmp_path / "nan.jsonl"), str(tmp_path / "dup.jsonl"), "-o", str(out)]) == 3
    for f in ("curated.jsonl", "review.jsonl", "rejected.jsonl", "quarantine.jsonl"):
        for line in (out / f).read_text(encoding="utf-8").splitlines():
            json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in {f}"))
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert [(q["code"], q["line"], q["field"]) for q in quarantine] == [("read.duplicate_key", 1, "instruction")]
    # the clean-file fast path must not read the repeated key differently: it hands the file over
    assert ingest([tmp_path / "dup.jsonl"]).frame.height == 3


def test_an_empty_or_unreadable_eval_file_is_an_error(tmp_path):
    empty = tmp_path / "eval.jsonl"
    empty.write_text("", encoding="utf-8")
    for ev in (str(empty), str(tmp_path / "nope.jsonl")):
        proc = _sieve("curate", str(ALPACA), "-o", str(tmp_path / "run"), "--eval", ev)
        assert proc.returncode == 2 and "--eval" in proc.stderr and "contamination" in proc.stderr or \
            proc.returncode == 2 and "no such file" in proc.stderr


def test_a_run_folder_is_committed_whole_with_a_run_id_and_never_touches_other_files(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text(_jsonl(GOOD), encoding="utf-8")
    out = tmp_path / "run"
    out.mkdir()
    (out / "review.sqlite").write_bytes(b"a reviewer's store")
    assert run(["curate", str(f), "-o", str(out)]) == 0
    first = read_manifest(out)["run_id"]
    assert run(["curate", str(f), "-o", str(out)]) == 0
    assert read_manifest(out)["run_id"] != first
    assert (out / "review.sqlite").read_bytes() == b"a reviewer's store"
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]
    (out / ".staging-killed").mkdir()  # what a run killed while writing leaves behind
    assert run(["curate", str(f), "-o", str(out)]) == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]
    assert pl.read_parquet(out / "annotated.parquet").height == len(GOOD)
    (out / "manifest.json").unlink()  # what a kill between the moves leaves
    with pytest.raises(IncompleteRunError, match="not a finished"):
        read_manifest(out)


def test_a_second_run_into_the_same_folder_fails_clearly(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text(_jsonl(GOOD[:3]), encoding="utf-8")
    out = tmp_path / "run"
    out.mkdir()
    with open(out / LOCK, "a+") as held:  # what a concurrent run holds
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = _sieve("curate", str(f), "-o", str(out))
    assert proc.returncode == 2 and "another `sieve curate`" in proc.stderr
    assert not (out / "manifest.json").exists()


def test_a_corrupt_review_store_is_one_line_not_a_traceback(tmp_path):
    store = tmp_path / "review.sqlite"
    store.write_bytes(b"this is not a database" * 100)
    proc = _sieve("review", "export", str(store), "-o", str(tmp_path / "approved.jsonl"))
    assert proc.returncode != 0 and proc.stderr.strip().startswith("error:")
    assert len(proc.stderr.strip().splitlines()) <= 2 and not (tmp_path / "approved.jsonl").exists()
    data = tmp_path / "data.jsonl"  # a data file named by mistake (an empty one is a valid empty SQLite file)
    for content in ("", _jsonl(GOOD[:2])):
        data.write_text(content, encoding="utf-8")
        proc = _sieve("review", "export", str(data), "-o", str(tmp_path / "approved.jsonl"))
        assert proc.returncode == 1 and "not a readable review store" in proc.stderr
        assert data.read_text(encoding="utf-8") == content  # left as it was


def test_hidden_files_are_listed_as_skipped_and_utf16_without_bom_is_read(tmp_path):
    (tmp_path / "a.jsonl").write_text(_jsonl(GOOD[:3]), encoding="utf-8")
    (tmp_path / ".b.jsonl").write_text(_jsonl(GOOD[3:5]), encoding="utf-8")
    (tmp_path / "c.jsonl").write_bytes(_jsonl(GOOD[5:9]).encode("utf-16-le"))
    res = ingest([tmp_path])
    assert res.frame.height == 7 and any(".b.jsonl (hidden file" in s for s in res.skipped)


@pytest.mark.xfail(strict=False, reason="known: a SIGINT 4 s into a run sometimes ends in SIGSEGV (exit -11) inside "
                   "native code (2 of 8 runs here); when it does not, the one line, exit 130 and no folder are checked")
def test_ctrl_c_is_one_line_exit_130_and_leaves_no_folder_it_made(tmp_path):
    import signal
    import time

    f = tmp_path / "in.jsonl"
    f.write_text("".join(line + "\n" for line in ALPACA.read_text(encoding="utf-8").splitlines()[:20000]), encoding="utf-8")
    out = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-m", "sieve.cli", "curate", str(f), "-o", str(out)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "SIEVE_DEBUG": "0"})
    time.sleep(4)  # 20,000 rows take longer than this: the signal comes mid-run
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 130 and "Traceback" not in stderr + stdout
    assert stderr.strip().splitlines()[-1].startswith("interrupted (Ctrl-C)")
    assert not out.exists()


def test_ingest_never_replaces_a_file_that_is_not_its_own_parquet(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text(_jsonl(GOOD[:3]), encoding="utf-8")
    victim = tmp_path / "victim.jsonl"
    victim.write_text(_jsonl(GOOD[3:5]), encoding="utf-8")
    proc = _sieve("ingest", str(f), "-o", str(victim))
    assert proc.returncode == 2 and "name the file .parquet" in proc.stderr
    fake = tmp_path / "notes.parquet"
    fake.write_text("my notes", encoding="utf-8")
    proc = _sieve("ingest", str(f), "-o", str(fake))
    assert proc.returncode == 2 and "is not a Parquet file" in proc.stderr
    assert victim.read_text(encoding="utf-8") == _jsonl(GOOD[3:5]) and fake.read_text(encoding="utf-8") == "my notes"
    assert _sieve("ingest", str(f), "-o", str(tmp_path / "a.parquet")).returncode == 0
    assert _sieve("ingest", str(f), "-o", str(tmp_path / "a.parquet")).returncode == 0  # its own output: replaced


def test_brackets_in_file_names_and_errors_print_as_they_are(tmp_path):
    folder = tmp_path / "[x]"
    folder.mkdir()
    f = folder / "[bold red]z.jsonl"
    chat = {"conversations": [{"from": "[INST]", "value": GOOD[5]["instruction"]}, {"from": "gpt", "value": GOOD[5]["output"]}]}
    f.write_text(_jsonl(GOOD[:3]) + '{"history": "[user, assistant]", "instruction": "a", "output": "b"}\n'
                 + json.dumps(chat) + "\n", encoding="utf-8")
    proc = _sieve("curate", str(f), "-o", str(tmp_path / "run"))
    assert proc.returncode == 3
    assert f"{f}:4" in proc.stderr and "[bold red]z.jsonl" in proc.stdout  # the quarantine line, the languages
    assert "--role-map [inst]=user" in proc.stderr  # an unknown role's name (roles are lower-cased)
