"""The Streamlit app through AppTest (no browser): sign-in and password, decisions bound to the row on
screen, conflicts with redo, skip, undo, filters, disputes, blind second review, rows shown as text."""

import json
from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from review_app.auth import Throttle, password_ok
from review_app.decisions import Action, decide
from review_app.importer import import_run
from review_app.store import connect, get_row, history
from tests.test_review_store import run_dir  # noqa: F401 - the shared curate-run fixture

APP = str(Path(__file__).resolve().parents[1] / "review_app" / "app.py")


@pytest.fixture
def db(run_dir, tmp_path, monkeypatch):  # noqa: F811
    path = tmp_path / "review.sqlite"
    import_run(connect(path), run_dir)
    monkeypatch.setenv("SIEVE_REVIEW_DB", str(path))
    monkeypatch.delenv("SIEVE_REVIEW_PASSWORD", raising=False)
    monkeypatch.delenv("SIEVE_REVIEW_CONFIG", raising=False)
    st_config.set_option("server.address", "127.0.0.1")
    return path


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def start(name: str = "Linus", password: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="signin_name").input(name)
    if password is not None:
        at.text_input(key="signin_password").input(password)
    button(at, "Sign in").click().run()
    assert not at.exception
    return at


def shown_id(at: AppTest) -> str:
    return at.session_state["row_id"]


def test_a_reviewer_name_is_required_and_nothing_is_served_before(db):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("reviewer name" in i.value for i in at.info)
    assert [b.label for b in at.button] == ["Sign in"] and not at.text


def test_accept_lands_on_the_row_shown_then_undo_restores_it(db):
    at = start()
    row_id = shown_id(at)
    button(at, "Accept").click().run()
    assert at.success[0].value == "accepted by Linus"
    con = connect(db)
    assert [r[0] for r in con.execute("SELECT row_id FROM decisions")] == [row_id]
    button(at, "Undo last").click().run()
    assert get_row(con, row_id)["status"] == "pending" and history(con, row_id)[0]["undone"] == 1
    assert shown_id(at) == row_id  # the undone row is back on screen


def test_reject_with_a_picked_reason(db):
    at = start()
    at.selectbox(key="reject_reason").select("low quality").run()
    button(at, "Reject").click().run()
    assert at.success[0].value == "rejected by Linus"
    d = connect(db).execute("SELECT action, reason, reviewer FROM decisions").fetchone()
    assert tuple(d) == ("reject", "low quality", "Linus")


def test_fix_in_place_is_validated_then_saved(db):
    at = start()
    output = next(t for t in at.text_area if t.key.startswith("fix_output_"))
    output.input("   ")  # inside a form: submitted together with the button
    button(at, "Preview fix").click().run()
    assert at.error and "not saved" in at.error[0].value
    assert not [b for b in at.button if b.label == "Save fix"]  # nothing valid to save
    output = next(t for t in at.text_area if t.key.startswith("fix_output_"))
    output.input("A corrected answer.")
    button(at, "Preview fix").click().run()
    button(at, "Save fix").click().run()
    assert at.success[0].value == "fixed by Linus"
    d = connect(db).execute("SELECT before, after FROM decisions WHERE action = 'fix'").fetchone()
    assert json.loads(d["after"])[-1]["content"] == "A corrected answer."


def test_a_stale_screen_shows_the_conflict_and_redo_applies_mine(db):
    at = start("Ada")
    row_id = shown_id(at)
    con = connect(db)
    con.execute("UPDATE rows SET lease_until = 0 WHERE id = ?", (row_id,))  # Ada's hold lapses ...
    row = get_row(con, row_id)
    decide(con, Action(row_id, row["version"], "s-bob", "Bob", "reject", reason="low quality"))  # ... Bob decides
    button(at, "Accept").click().run()  # Ada's screen still shows the old version
    assert any("Not saved" in e.value for e in at.error)
    assert any("Bob reject low quality" in t.value for t in at.text)
    assert [d["reviewer"] for d in history(con, row_id)] == ["Bob"]  # nothing of Ada's was written
    assert shown_id(at) == row_id
    button(at, "Redo mine on the row as shown below").click().run()
    assert at.success[0].value == "accepted by Ada"
    assert get_row(con, row_id)["status"] == "accepted"


def test_drop_mine_keeps_theirs(db):
    at = start("Ada")
    row_id = shown_id(at)
    con = connect(db)
    con.execute("UPDATE rows SET lease_until = 0 WHERE id = ?", (row_id,))
    decide(con, Action(row_id, get_row(con, row_id)["version"], "s-bob", "Bob", "accept"))
    button(at, "Reject").click().run()  # with the default reason, on the version Ada's screen showed
    assert any("Not saved" in e.value for e in at.error)
    button(at, "Drop mine").click().run()
    assert get_row(con, row_id)["status"] == "accepted" and shown_id(at) != row_id


def test_skip_shows_another_row_and_undo_passes_over_it(db):
    at = start()
    first = shown_id(at)
    button(at, "Accept").click().run()
    second = shown_id(at)
    button(at, "Skip").click().run()
    assert shown_id(at) not in (first, second)
    button(at, "Undo last").click().run()  # undoes the accept, not the skip
    con = connect(db)
    assert get_row(con, first)["status"] == "pending" and shown_id(at) == first


def test_a_filter_shows_a_matching_row_at_once(db):
    at = start()
    at.sidebar.text_input(key="f_search").input("noinput").run()
    row = get_row(connect(db), shown_id(at))
    assert "noinput" in json.dumps(row["messages"]).lower() or "noinput" in row["prompt"].lower()
    assert any(t.value.startswith("row 1 of ") for t in at.text)


def test_disputes_page_shows_disputes_only_and_adjudication_is_final(db):
    con = connect(db)
    rows = con.execute("SELECT id FROM rows WHERE verdict = 'review' ORDER BY quality LIMIT 2").fetchall()
    con.execute("UPDATE rows SET status = 'disputed' WHERE id = ?", (rows[1]["id"],))
    at = start("Cy")
    at.sidebar.radio(key="page").set_value("Disputes").run()
    assert shown_id(at) == rows[1]["id"]
    assert any(t.value.startswith("row 1 of 1") for t in at.text)
    at.selectbox(key="reject_reason").select("low quality").run()
    button(at, "Reject").click().run()
    assert get_row(con, rows[1]["id"])["status"] == "rejected"
    assert any(s.value == "No disputes." for s in at.success)


def test_second_review_is_blind(run_dir, tmp_path, monkeypatch):  # noqa: F811
    path = tmp_path / "double.sqlite"
    con = connect(path)
    import_run(con, run_dir, double_share=1.0)
    monkeypatch.setenv("SIEVE_REVIEW_DB", str(path))
    monkeypatch.delenv("SIEVE_REVIEW_PASSWORD", raising=False)
    st_config.set_option("server.address", "127.0.0.1")
    row = get_row(con, con.execute("SELECT id FROM rows WHERE verdict = 'review' ORDER BY quality, row_idx").fetchone()[0])
    decide(con, Action(row["id"], row["version"], "s-ada", "Ada", "reject", reason="secret reason"))
    at = start("Bob")
    assert shown_id(at) == row["id"]
    assert not any("secret reason" in t.value for t in at.text)
    assert any("blind review" in t.value for t in at.text)


def test_row_text_is_shown_as_text_never_markdown(db):
    con = connect(db)
    evil = '<script>alert(1)</script> ![x](http://example.com/x.png) <b>bold</b>'
    msgs = [{"role": "![r](http://example.com/r.png)", "content": evil}, {"role": "assistant", "content": "ok"}]
    con.execute("UPDATE rows SET messages = ?, quality = 0, row_idx = -1 WHERE id = "
                "(SELECT id FROM rows WHERE verdict = 'review' LIMIT 1)", (json.dumps(msgs),))
    at = start()
    assert any(t.value == evil for t in at.text)
    assert any(t.value == "[![r](http://example.com/r.png)]" for t in at.text)
    assert all("example.com" not in m.value for m in at.markdown)
    assert all("example.com" not in getattr(e, "label", "") for e in [*at.text_area, *at.text_input])
    assert button(at, "Accept").disabled  # unknown role: fix or reject, not accept


def test_a_long_row_is_collapsed(db):
    con = connect(db)
    long = "word " * 40_000
    msgs = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": long}]
    con.execute("UPDATE rows SET messages = ?, quality = 0, row_idx = -1 WHERE id = "
                "(SELECT id FROM rows WHERE verdict = 'review' LIMIT 1)", (json.dumps(msgs),))
    at = start()
    cut = [t.value for t in at.text if t.value.startswith("word word")]
    assert len(cut[0]) < 4_000 and "more characters" in cut[0]
    assert any(e.label == "show all" for e in at.expander)


def test_the_password_is_enforced_by_the_app(db, monkeypatch):
    monkeypatch.setenv("SIEVE_REVIEW_PASSWORD", "s3cret")
    at = start("Ada", password="guess")
    assert any(e.value == "Wrong password." for e in at.error) and "row_id" not in at.session_state
    at = start("Ada", password="s3cret")
    assert at.session_state["row_id"]


def test_no_password_and_every_address_serves_nothing(db):
    st_config.set_option("server.address", "0.0.0.0")
    try:
        at = AppTest.from_file(APP, default_timeout=60).run()
        assert any("SIEVE_REVIEW_PASSWORD" in e.value for e in at.error) and not at.button
    finally:
        st_config.set_option("server.address", "127.0.0.1")


def test_wrong_passwords_wait_longer_each_time():
    waits = []
    t = Throttle(base=1.0, cap=4.0)
    for _ in range(4):
        t.attempt("guess", "s3cret", sleep=waits.append)
    assert waits == [0.0, 1.0, 2.0, 4.0]
    assert t.attempt("s3cret", "s3cret", sleep=waits.append) and t.delay() == 0.0
    assert password_ok("é", "é") and not password_ok("a", "ab")


def test_progress_page(db):
    at = start()
    button(at, "Accept").click().run()
    at.sidebar.radio(key="page").set_value("Progress").run()
    assert not at.exception
    assert any(m.label == "Rows left to review" for m in at.metric)
