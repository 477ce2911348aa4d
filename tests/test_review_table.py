"""The Table page through AppTest: pick rows, accept or reject them as one bulk action, see how many
changed and how many were left alone, and undo exactly that bulk action."""

from review_app import queue
from review_app.bulk import Pick, bulk_history
from review_app.decisions import Action, decide
from review_app.store import connect, get_row
from review_app.table_page import picks_from, table_key
from tests.test_review_app import db, start  # noqa: F401 - the app fixture and helpers
from tests.test_review_store import run_dir  # noqa: F401 - the shared curate-run fixture

ROWS = [{"id": "a", "version": 0}, {"id": "b", "version": 3}, {"id": "c", "version": 1}]


def test_picks_follow_the_ticks_or_pick_every_row():
    assert picks_from(ROWS, {1: {"pick": True}}, False) == [Pick("b", 3)]
    assert picks_from(ROWS, {"2": {"pick": True}}, False) == [Pick("c", 1)]  # positions as JSON keys too
    assert picks_from(ROWS, {0: {"pick": False}}, True) == [Pick("b", 3), Pick("c", 1)]
    assert picks_from(ROWS, {}, False) == []


def test_a_changed_row_is_a_new_table():
    assert table_key(ROWS, False) != table_key([ROWS[0], {"id": "b", "version": 4}, ROWS[2]], False)
    assert table_key(ROWS, False) != table_key(ROWS, True)


def table(name: str = "Linus"):
    at = start(name)
    at.sidebar.radio(key="page").set_value("Table").run()
    assert not at.exception
    return at


def pick_all(at):
    next(c for c in at.checkbox if c.label == "Pick every row on this page").check().run()


def apply_button(at):
    return at.button(key="table_apply")


def test_table_page_bulk_reject_with_feedback_then_undo_that_action(db):  # noqa: F811
    con = connect(db)
    at = table()
    at.sidebar.selectbox(key="table_size").select(25).run()
    shown = queue.list_rows(con, queue.Filters(), limit=25)
    assert apply_button(at).disabled  # nothing picked yet
    pick_all(at)
    at.radio(key="table_action").set_value("reject").run()
    at.selectbox(key="table_reason").select("duplicate").run()
    assert apply_button(at).label == "Reject 25 picked rows"
    apply_button(at).click().run()
    assert not at.exception
    assert at.success[0].value == "rejected 25 of 25 rows"
    assert {get_row(con, r["id"])["status"] for r in shown} == {"rejected"}
    [rec] = bulk_history(con, "Linus")
    assert (rec.done, rec.reason, rec.scope) == (25, "duplicate", "picked")
    at.button(key=f"undo_bulk-{rec.batch}").click().run()
    assert at.info[0].value == "undid that bulk action: 25 rows as they were before it"
    assert {get_row(con, r["id"])["status"] for r in shown} == {"pending"}
    assert any(t.value == "undone by Linus" for t in at.text)


def test_rows_changed_since_the_table_showed_them_are_counted_not_changed(db):  # noqa: F811
    con = connect(db)
    at = table()
    pick_all(at)  # every review row of the sample fits one table page
    n = queue.count(con, queue.Filters())
    first = queue.list_rows(con, queue.Filters(), limit=1)[0]
    decide(con, Action(first["id"], first["version"], "s-bob", "bob", "reject", reason="low quality"))
    apply_button(at).click().run()  # accept, with the versions the table showed
    assert at.success[0].value == (f"accepted {n - 1} of {n} rows; left alone: 1 changed since the table showed "
                                   "them (version conflict)")
    assert get_row(con, first["id"])["status"] == "rejected"  # bob's decision stands
    undo_buttons = [b for b in at.button if b.label == "Undo this bulk action"]
    assert len(undo_buttons) == 1


def test_an_empty_filter_is_an_empty_table_with_nothing_to_apply(db):  # noqa: F811
    at = table()
    at.sidebar.text_input(key="f_search").input("no row says this, zqxj").run()
    assert not at.exception
    assert any(t.value == "rows 0-0 of 0 in this filter, worst quality first" for t in at.text)
    assert apply_button(at).disabled and apply_button(at).label == "Accept 0 picked rows"
