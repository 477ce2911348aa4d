"""What the review screen shows beside a row and on Progress: the eval prompt a contamination row
matched (or why it cannot be shown), the row's signals, and the run's quarantined input. A real small
curate run made here: rows of examples/alpaca_sample.jsonl, an eval file holding three of their
prompts, and an input file with unreadable lines."""

import json
import shutil

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from curate.outputs import write_outputs
from curate.pipeline import run_curate
from review_app.importer import import_run
from review_app.run_files import eval_match, quarantine, store_run
from review_app.signals import signal_lines
from review_app.store import connect, get_row
from schemas.config import CurateConfig
from tests.conftest import ROOT
from tests.test_review_app import APP, button

SAMPLE = ROOT / "examples" / "alpaca_sample.jsonl"
BAD = ('{"instruction": "Name a colour.", "output": "Blue."}\n{"instruction": "x", \n[1, 2]\n'
       '{"instruction": "ok", "output": "fine"}\n{bad\n')


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(run folder, eval file, the three eval prompts) of a run curated with ``--eval``."""
    tmp = tmp_path_factory.mktemp("evidence")
    inputs = tmp / "inputs"
    (inputs / "more").mkdir(parents=True)
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    (inputs / "good.jsonl").write_text("\n".join(lines[:40]) + "\n", encoding="utf-8")
    (inputs / "more" / "**bad**.jsonl").write_text(BAD, encoding="utf-8")  # a name markdown would bold
    prompts = [json.loads(line)["instruction"] for line in lines[:3]]
    evals = tmp / "evals" / "evals.jsonl"
    evals.parent.mkdir()
    evals.write_text("".join(json.dumps({"id": f"ev-{i}", "instruction": p}) + "\n" for i, p in enumerate(prompts)))
    run = tmp / "run"
    write_outputs(run_curate([inputs], CurateConfig(), [evals]), run)
    return run, evals, prompts


@pytest.fixture
def db(made, tmp_path, monkeypatch):
    path = tmp_path / "review.sqlite"
    import_run(connect(path), made[0])
    monkeypatch.setenv("SIEVE_REVIEW_DB", str(path))
    monkeypatch.delenv("SIEVE_REVIEW_PASSWORD", raising=False)
    monkeypatch.delenv("SIEVE_REVIEW_CONFIG", raising=False)
    st_config.set_option("server.address", "127.0.0.1")
    return path


def signed_in() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="signin_name").input("Ada")
    button(at, "Sign in").click().run()
    assert not at.exception
    return at


def contamination_row(at: AppTest) -> AppTest:
    at.sidebar.multiselect(key="f_verdict").set_value(["drop"]).run()
    at.sidebar.selectbox(key="f_reason").select("contamination.eval").run()
    assert not at.exception
    return at


def texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def test_a_contamination_row_shows_the_eval_prompt_it_matched(db, made):
    at = contamination_row(signed_in())
    row = get_row(connect(db), at.session_state["row_id"])
    sig = json.loads(row["signals"])
    i = int(sig["contamination_eval_id"].removeprefix("ev-"))
    assert "contamination.eval" in row["reasons"]
    shown = texts(at)
    k = shown.index(f"Matched eval prompt: id ev-{i} in evals.jsonl · overlap 100% of its word n-grams found in "
                    "this row's prompt")
    assert shown[k + 1] == made[2][i]  # the eval prompt itself, as text
    assert all(made[2][i] not in m.value for m in at.markdown)
    assert str(made[1].parent) not in "\n".join(shown)  # the eval file by name, never its absolute path


def test_a_gone_eval_file_is_said_so(db, made, tmp_path):
    evals = made[1]
    moved = tmp_path / "evals.jsonl"
    shutil.move(evals, moved)
    try:
        at = contamination_row(signed_in())
        shown = texts(at)
        k = next(i for i, t in enumerate(shown) if t.startswith("Matched eval prompt: id ev-"))
        assert shown[k + 1].startswith("the eval file evals.jsonl named in the run's manifest cannot be found now")
    finally:
        shutil.move(moved, evals)


def test_an_eval_file_that_lost_the_id_is_said_so(made, tmp_path):
    con = connect(tmp_path / "r.sqlite")
    import_run(con, made[0])
    other = tmp_path / "changed.jsonl"
    other.write_text(json.dumps({"id": "ev-9", "instruction": "Something else entirely."}) + "\n")
    man = store_run(con)
    man.manifest["eval_files"] = [str(other)]
    m = eval_match(man, "ev-0", 1.0)
    assert m.prompt is None and "changed.jsonl no longer holds eval id ev-0" in m.note


def test_every_row_shows_its_signals_as_text(db):
    at = signed_in()
    row = get_row(connect(db), at.session_state["row_id"])
    sig = json.loads(row["signals"])
    block = next(t for t in texts(at) if t.startswith("length: "))
    assert f"prompt {sig['prompt_words']} words, {sig['prompt_chars']} chars" in block
    for family in ("\ncontent: junk (symbols) ", "\nrepetition: repeated lines ", "\npersonal data: ",
                   "\nlanguage: prompt ", "readability (Flesch)"):
        assert family in block
    reasons = [t for t in texts(at) if t.startswith("• ")]
    assert reasons and all(": " in r and not r.endswith(": ") for r in reasons)  # codes with their plain words


def test_signal_lines_name_flags_and_near_duplicates_in_words():
    lines = signal_lines({"prompt_words": 3, "refusal": True, "truncated": True, "pii_email": True, "junk_share": 0.25,
                          "lang_response": "de", "lang_response_score": 0.91, "near_similarity": 0.8312,
                          "contamination_eval_id": "ev-1", "contamination_overlap": 0.5, "a_new_signal": 7})
    text = "\n".join(lines)
    assert "flags: refusal or AI boilerplate, cut off mid-thought" in text
    assert "personal data: e-mail address" in text and "junk (symbols) 25%" in text
    assert "response de 0.91" in text and "exact similarity 0.83" in text
    assert "eval id ev-1 · overlap 50%" in text and "other signals: a_new_signal 7" in text
    assert "not in this store" in signal_lines(None)[0]


def test_a_store_made_before_signals_gets_them_on_the_next_import(made, tmp_path):
    con = connect(tmp_path / "old.sqlite")
    import_run(con, made[0])
    con.execute("UPDATE rows SET signals = NULL")  # as a store of the previous schema version has them
    import_run(con, made[0])
    assert con.execute("SELECT COUNT(*) FROM rows WHERE signals IS NULL").fetchone()[0] == 0


def test_quarantined_input_is_listed_with_counts_per_code(made, tmp_path):
    con = connect(tmp_path / "q.sqlite")
    import_run(con, made[0])
    q = quarantine(store_run(con))
    assert q.counts == [("read.json_syntax", 2), ("read.not_an_object", 1)]
    assert {r["file"] for r in q.records} == {"more/**bad**.jsonl"}  # relative to the inputs' common folder


def test_progress_shows_quarantine_as_text_with_raw_collapsed(db, made):
    at = signed_in()
    at.sidebar.radio(key="page").set_value("Progress").run()
    assert not at.exception
    shown = texts(at)
    assert "3 quarantined: read.json_syntax 2 · read.not_an_object 1" in shown
    assert any(t.startswith("more/**bad**.jsonl:2:22 · read.json_syntax\n") for t in shown)
    assert any(t.startswith("more/**bad**.jsonl:3 · read.not_an_object\nexpected a JSON object") for t in shown)
    assert [e.label for e in at.expander].count("raw") == 3 and '[1, 2]' in shown
    assert all("bad" not in m.value for m in at.markdown)
    assert str(made[0].parent) not in "\n".join(shown)
    at.selectbox(key="q_code").select("read.not_an_object").run()
    assert [t for t in texts(at) if "**bad**" in t and " · read." in t] == [
        "more/**bad**.jsonl:3 · read.not_an_object\nexpected a JSON object, got list"]


def test_progress_says_when_the_run_folder_lost_its_quarantine(made, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(made[0], copy)
    con = connect(tmp_path / "c.sqlite")
    import_run(con, copy)
    (copy / "quarantine.jsonl").unlink()
    assert "no quarantine.jsonl now" in quarantine(store_run(con)).note
