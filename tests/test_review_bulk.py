"""Bulk actions on picked rows: each row only at the version the table showed, counts of what was left
alone, one durable record per bulk action, and an undo that takes back exactly that action."""

import pytest

from review_app import queue
from review_app.bulk import Pick, bulk_filter, bulk_history, bulk_picked, summary, undo_bulk
from review_app.decisions import Action, decide, undo_last
from review_app.errors import ConflictError, ReviewError
from review_app.importer import import_run
from review_app.migrations import MIGRATIONS
from review_app.store import connect, get_row, history
from tests.test_review_store import con, run_dir  # noqa: F401 - shared fixtures

F = queue.Filters()


def picks(rows):
    return [Pick(r["id"], r["version"]) for r in rows]


def test_picked_rows_change_at_their_shown_version_and_the_rest_is_counted(con):
    rows = queue.list_rows(con, F, limit=6)
    decide(con, Action(rows[0]["id"], rows[0]["version"], "s-bob", "bob", "reject", reason="low quality"))
    queue.open_row(con, rows[1]["id"], "s-eve", "eve", 60)  # eve has row 1 open
    res = bulk_picked(con, "s-ada", "ada", picks(rows), "accept")
    assert (res.picked, res.done, res.conflicts, res.held, res.invalid) == (6, 4, 1, 1, 0)
    assert get_row(con, rows[0]["id"])["status"] == "rejected"  # bob's decision stands
    assert get_row(con, rows[1]["id"])["status"] == "pending"
    assert {get_row(con, r["id"])["status"] for r in rows[2:]} == {"accepted"}
    assert summary(res, "accept") == ("accepted 4 of 6 rows; left alone: 1 changed since the table showed them "
                                      "(version conflict), 1 open in another reviewer's session")


def test_a_bulk_action_is_recorded_once_with_who_when_and_before(con):
    rows = queue.list_rows(con, F, limit=3)
    res = bulk_picked(con, "s-ada", "ada", picks(rows) + picks(rows[:1]), "reject", "duplicate")
    assert res.picked == 3  # a row picked twice counts once
    [rec] = bulk_history(con, "ada")
    assert (rec.batch, rec.reviewer, rec.action, rec.reason, rec.scope, rec.done, rec.undone_at) == (
        res.batch, "ada", "reject", "duplicate", "picked", 3, None)
    for r in rows:
        [d] = history(con, r["id"])
        assert (d["batch"], d["reviewer"], d["action"], d["prev"] is not None) == (res.batch, "ada", "reject", True)


def test_undo_bulk_takes_back_exactly_that_action(con):
    rows = queue.list_rows(con, F, limit=5)
    first = bulk_picked(con, "s-ada", "ada", picks(rows[:2]), "accept")
    second = bulk_picked(con, "s-ada", "ada", picks([get_row(con, r["id"]) for r in rows[2:]]), "reject", "other")
    later = queue.list_rows(con, F, limit=1)[0]
    decide(con, Action(later["id"], later["version"], "s-ada", "ada", "accept"))  # a later single decision
    undone = undo_bulk(con, first.batch, "s-ada", "ada")
    assert sorted(r["id"] for r in undone.rows) == sorted(r["id"] for r in rows[:2])
    assert {get_row(con, r["id"])["status"] for r in rows[:2]} == {"pending"}
    assert {get_row(con, r["id"])["status"] for r in rows[2:]} == {"rejected"}  # the other bulk action stands
    recs = {r.batch: r for r in bulk_history(con, "ada")}
    assert recs[first.batch].undone_by == "ada" and recs[second.batch].undone_at is None
    with pytest.raises(ReviewError, match="already undone by ada"):
        undo_bulk(con, first.batch, "s-ada", "ada")


def test_undo_bulk_is_all_or_nothing_and_only_by_its_reviewer(con):
    rows = queue.list_rows(con, F, limit=3)
    res = bulk_picked(con, "s-ada", "ada", picks(rows), "accept")
    with pytest.raises(ReviewError, match="ada's: only they"):
        undo_bulk(con, res.batch, "s-bob", "bob")
    changed = get_row(con, rows[1]["id"])
    decide(con, Action(changed["id"], changed["version"], "s-bob", "bob", "reject", reason="duplicate"))
    with pytest.raises(ConflictError, match="bob changed row"):
        undo_bulk(con, res.batch, "s-ada", "ada")
    assert [get_row(con, r["id"])["status"] for r in rows] == ["accepted", "rejected", "accepted"]  # nothing undone
    assert bulk_history(con, "ada")[0].undone_at is None


def test_undo_last_after_a_bulk_action_marks_its_record(con):
    res = bulk_picked(con, "s-ada", "ada", picks(queue.list_rows(con, F, limit=2)), "accept")
    assert undo_last(con, "s-ada", "ada").bulk
    assert bulk_history(con, "ada")[0].undone_by == "ada"
    with pytest.raises(ReviewError, match="already undone"):
        undo_bulk(con, res.batch, "s-ada", "ada")


def test_nothing_changed_is_not_recorded_and_bad_requests_are_refused(con):
    row = queue.list_rows(con, F, limit=1)[0]
    res = bulk_picked(con, "s-ada", "ada", [Pick(row["id"], row["version"] + 7), Pick("no-such-row", 0)], "accept")
    assert (res.done, res.conflicts) == (0, 2) and bulk_history(con, "ada") == []
    with pytest.raises(ValueError, match="needs a reason"):
        bulk_picked(con, "s-ada", "ada", [Pick(row["id"], row["version"])], "reject")
    with pytest.raises(ValueError, match="not 'fix'"):
        bulk_picked(con, "s-ada", "ada", [Pick(row["id"], row["version"])], "fix")


def test_a_filter_bulk_made_before_the_record_table_gets_one(run_dir, tmp_path):  # noqa: F811
    path = tmp_path / "v4.sqlite"
    c = connect(path)
    import_run(c, run_dir)
    res = bulk_filter(c, "s-ada", "ada", queue.Filters(reason="content.external_reference"), "reject", "needs a URL")
    c.execute("DROP TABLE bulk_actions")  # the store as the release before bulk records left it
    c.execute("DROP TABLE reviewers")
    for stmt in ("DROP TRIGGER rows_fts_insert", "DROP TRIGGER rows_fts_update", "DROP TABLE rows_fts",
                 "DROP INDEX rows_next", "CREATE INDEX rows_queue ON rows(verdict, status, quality)"):
        c.execute(stmt)  # and before the store's scale migration (7)
    c.execute("PRAGMA user_version = 4")
    c.close()
    again = connect(path)
    assert again.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    [rec] = bulk_history(again, "ada")
    assert (rec.batch, rec.scope, rec.done, rec.reason) == (res.batch, "filter", res.done, "needs a URL")
    assert len(undo_bulk(again, res.batch, "s-ada", "ada").rows) == res.done
