"""The review app's guidelines, keyboard map and fix preview through AppTest (no browser): numbered reject
keys bound to the row on screen like every button, the Fix key, a diff of a fix before it is saved, a
help overlay that lists every key on screen, and the project's guidelines one click away."""

import json

from review_app.actions import REJECT_REASONS
from review_app.decisions import Action, decide
from review_app.help import field_diffs, key_map, numbered_reasons
from review_app.store import connect, get_row, history
from tests.test_review_app import button, db, shown_id, start  # noqa: F401 - the app fixture and helpers
from tests.test_review_store import run_dir  # noqa: F401 - the shared curate-run fixture


def shortcuts(at) -> dict[str, str]:
    """Each button's shortcut on screen (as Streamlit normalised it) -> its label."""
    return {b.proto.shortcut: b.label for b in at.button if b.proto.shortcut}


def test_numbered_keys_follow_the_reason_list_and_leave_out_other():
    assert numbered_reasons(REJECT_REASONS) == [(str(i + 1), r) for i, r in enumerate(REJECT_REASONS[:-1])]
    assert len(numbered_reasons([f"r{i}" for i in range(12)])) == 9  # keys 1-9 only


def test_key_2_rejects_the_row_shown_with_the_second_reason(db):
    at = start("Ada")
    row_id = shown_id(at)
    keys = shortcuts(at)
    assert keys["2"] == REJECT_REASONS[1] == "low quality"
    version = get_row(connect(db), row_id)["version"]
    (b,) = [b for b in at.button if b.proto.shortcut == "2"]
    assert b.key == f"reject2-{row_id}-{version}"  # the key names the row and version it was drawn with
    b.click().run()
    assert at.success[0].value == "rejected by Ada"
    assert [(d["action"], d["reason"]) for d in history(connect(db), row_id)] == [("reject", "low quality")]
    assert shown_id(at) != row_id


def test_a_number_key_on_a_stale_screen_writes_nothing(db):
    at = start("Ada")
    row_id = shown_id(at)
    con = connect(db)
    con.execute("UPDATE rows SET lease_until = 0 WHERE id = ?", (row_id,))
    decide(con, Action(row_id, get_row(con, row_id)["version"], "s-bob", "Bob", "accept"))
    next(b for b in at.button if b.proto.shortcut == "1").click().run()  # Ada's screen: the old version
    assert any("Not saved" in e.value for e in at.error)
    assert [d["reviewer"] for d in history(con, row_id)] == ["Bob"]


def test_the_help_lists_every_key_on_screen(db):
    at = start()
    on_screen = shortcuts(at)
    assert {"a", "x", "n", "u", "p", "f", "h", "1", "6"} <= set(on_screen)
    button(at, "Keys").click().run()
    keys = at.table[0].value
    help_text = "\n".join(keys["does"])
    listed = {k.lower() for k in keys["key"]}
    assert set(on_screen) <= listed | {"h"}  # h is listed with "?"
    assert "?" in listed and "ctrl+enter" in listed and "ctrl+s" in listed
    assert "reject: low quality" in help_text
    assert [k for k, _ in key_map(REJECT_REASONS, guidelines=True)].count("g") == 1


def test_the_fix_key_opens_the_form_and_the_diff_comes_before_the_save(db):
    at = start("Ada")
    row_id = shown_id(at)
    con = connect(db)
    v = get_row(con, row_id)["version"]
    assert at.session_state[f"fix_open_{row_id}_{v}"] is False  # a valid row: the form starts closed
    next(b for b in at.button if b.proto.shortcut == "f").click().run()
    assert at.session_state[f"fix_open_{row_id}_{v}"] is True
    old = json.loads(get_row(con, row_id)["metadata"])["output"]
    next(t for t in at.text_area if t.key.startswith("fix_output_")).input("A corrected answer.")
    button(at, "Preview fix").click().run()
    assert any(t.value == "output" for t in at.text)  # the field named, its diff as text
    (diff,) = [c.value for c in at.code if c.value.startswith("--- before")]
    assert f"-{old.splitlines()[0]}" in diff and "+A corrected answer." in diff
    assert history(con, row_id) == []  # nothing saved by the preview
    save = button(at, "Save fix")
    assert save.proto.shortcut == "ctrl+s" and save.key == f"save_fix-{row_id}-{v}"
    save.click().run()
    assert at.success[0].value == "fixed by Ada"
    assert get_row(con, row_id)["fixed_messages"][-1]["content"] == "A corrected answer."


def test_a_preview_that_changes_nothing_offers_no_save(db):
    at = start()
    button(at, "Preview fix").click().run()
    assert any("changes nothing" in t.value for t in at.text)
    assert not [b for b in at.button if b.label == "Save fix"]


def test_a_previewed_fix_on_a_row_changed_since_writes_nothing(db):
    at = start("Ada")
    row_id = shown_id(at)
    next(t for t in at.text_area if t.key.startswith("fix_output_")).input("Ada's answer.")
    button(at, "Preview fix").click().run()
    con = connect(db)
    con.execute("UPDATE rows SET lease_until = 0 WHERE id = ?", (row_id,))
    decide(con, Action(row_id, get_row(con, row_id)["version"], "s-bob", "Bob", "reject", reason="low quality"))
    button(at, "Save fix").click().run()
    assert any("Not saved" in e.value for e in at.error)
    assert [d["reviewer"] for d in history(con, row_id)] == ["Bob"]


def test_a_preview_on_a_row_changed_since_is_the_conflict_with_my_text(db):
    at = start("Ada")
    row_id = shown_id(at)
    con = connect(db)
    con.execute("UPDATE rows SET lease_until = 0 WHERE id = ?", (row_id,))
    decide(con, Action(row_id, get_row(con, row_id)["version"], "s-bob", "Bob", "accept"))
    next(t for t in at.text_area if t.key.startswith("fix_output_")).input("Ada's answer.")
    button(at, "Preview fix").click().run()
    assert any("Not saved" in e.value for e in at.error)
    assert any("Ada's answer." in t.value for t in at.text)  # her text is kept in the conflict panel
    assert [d["reviewer"] for d in history(con, row_id)] == ["Bob"]


def test_field_diffs_name_each_changed_field_only():
    before = {"instruction": "Add 2 and 3.", "input": "", "output": "5"}
    after = {"instruction": "Add 2 and 3.", "input": "", "output": "5\nBecause 2 + 3 = 5."}
    ((field, diff),) = field_diffs(before, after)
    assert field == "output" and diff.splitlines()[-1] == "+Because 2 + 3 = 5." and "-5" not in diff
    assert field_diffs(before, dict(before)) == []


def test_guidelines_are_one_click_away_on_every_page_and_rendered_as_markdown(db, tmp_path, monkeypatch):
    guide = tmp_path / "guide.md"
    guide.write_text("# Rules\n\n**Reject** answers that invent facts.\n")
    monkeypatch.setenv("SIEVE_REVIEW_GUIDELINES", str(guide))
    at = start()
    for page in ("Queue", "Progress"):
        at.sidebar.radio(key="page").set_value(page).run()
        button(at, "Guidelines").click().run()
        assert not at.exception
        assert any("**Reject** answers that invent facts." in m.value for m in at.markdown)
    assert "g" in shortcuts(at)


def test_guidelines_gone_after_start_is_one_line_and_none_given_no_button(db, tmp_path, monkeypatch):
    at = start()
    assert not [b for b in at.button if b.label == "Guidelines"]
    monkeypatch.setenv("SIEVE_REVIEW_GUIDELINES", str(tmp_path / "gone.md"))
    at = start()
    button(at, "Guidelines").click().run()
    assert not at.exception and [e.value for e in at.error] == ["gone.md: no such guidelines file"]
