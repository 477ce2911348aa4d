"""The Streamlit app through AppTest (no browser): sign-in, accept, reject, fix, undo, escaping."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from review_app.store import connect, history, import_run
from tests.test_review_store import run_dir  # noqa: F401 - the shared curate-run fixture

APP = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "review_app" / "app.py")


@pytest.fixture
def db(run_dir, tmp_path, monkeypatch):  # noqa: F811
    path = tmp_path / "review.sqlite"
    import_run(connect(path), run_dir)
    monkeypatch.setenv("SIEVE_REVIEW_DB", str(path))
    return path


def start(name: str = "Linus") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="reviewer").input(name).run()
    return at


def test_a_reviewer_name_is_required(db):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("reviewer name" in i.value for i in at.info)
    assert not at.button  # no actions before signing in


def test_accept_then_undo(db):
    at = start()
    at.button(key="accept").click().run()
    assert not at.exception
    assert at.success[0].value == "accepted by Linus"
    con = connect(db)
    (row_id,) = con.execute("SELECT row_id FROM decisions").fetchone()
    at.button(key="undo").click().run()
    assert con.execute("SELECT status FROM rows WHERE id = ?", (row_id,)).fetchone()[0] == "pending"
    assert history(con, row_id)[0]["undone"] == 1


def test_reject_with_a_picked_reason(db):
    at = start()
    at.selectbox(key="reject_reason").select("low quality").run()
    at.button(key="reject").click().run()
    assert at.success[0].value == "rejected by Linus"
    d = connect(db).execute("SELECT action, reason, reviewer FROM decisions").fetchone()
    assert tuple(d) == ("reject", "low quality", "Linus")


def test_fix_in_place_is_validated_then_saved(db):
    at = start()
    output = next(t for t in at.text_area if t.key.startswith("fix_output_"))
    output.input("   ")  # inside a form: submitted together with the button
    at.button(key="save_fix").click().run()
    assert at.error and "not saved" in at.error[0].value
    output = next(t for t in at.text_area if t.key.startswith("fix_output_"))
    output.input("A corrected answer.")
    at.button(key="save_fix").click().run()
    assert at.success[0].value == "fixed by Linus"
    d = connect(db).execute("SELECT before, after FROM decisions WHERE action = 'fix'").fetchone()
    assert json.loads(d["after"])[-1]["content"] == "A corrected answer."
    assert json.loads(d["before"]) != json.loads(d["after"])


def test_row_text_is_shown_as_text_not_html(db):
    con = connect(db)
    evil = '<script>alert(1)</script> ![x](http://example.com/x.png) <b>bold</b>'
    con.execute("UPDATE rows SET messages = ?, quality = 0, row_idx = -1 WHERE id = (SELECT id FROM rows WHERE verdict = 'review' LIMIT 1)",
                (json.dumps([{"role": "user", "content": evil}, {"role": "assistant", "content": "ok"}]),))
    at = start()
    assert any(t.value == evil for t in at.text)  # st.text: rendered literally
    assert all(evil not in m.value for m in at.markdown)


def test_progress_page(db):
    at = start()
    at.button(key="accept").click().run()
    at.sidebar.radio(key="page").set_value("Progress").run()
    assert not at.exception
    assert any(m.label == "Rows left to review" for m in at.metric)
