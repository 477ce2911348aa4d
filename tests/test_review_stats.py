"""Per-reviewer stats: the accept/reject split, pairwise agreement and time per row on literal
decisions, honest number formats, and the Stats page through AppTest."""

import pytest

from review_app import formats as fmt
from review_app import queue
from review_app.decisions import Action, decide
from review_app.stats import IDLE_CAP_S, Decided, agreement, cohen_kappa, load_decided, reviewer_stats, row_gaps
from review_app.stats_page import reviewer_table
from review_app.store import connect
from tests.test_review_app import db, start  # noqa: F401 - the app fixture and helpers
from tests.test_review_store import con, run_dir  # noqa: F401 - shared fixtures


def test_formats_are_honest():
    assert (fmt.count(1260), fmt.count(0)) == ("1,260", "0")
    assert (fmt.rows(1), fmt.rows(0), fmt.rows(52002)) == ("1 row", "0 rows", "52,002 rows")
    assert (fmt.share(5 / 6), fmt.share(1.0), fmt.share(None)) == ("83.3%", "100.0%", "n/a")
    assert (fmt.kappa(0.6153), fmt.kappa(-0.2), fmt.kappa(None)) == ("0.62", "-0.20", "n/a")
    assert (fmt.per_hour(1260.0), fmt.per_hour(None)) == ("1,260", "n/a")
    assert [fmt.duration(s) for s in (7.25, 42.4, 65, 299.6, None)] == ["7.2 s", "42 s", "1 min 05 s", "5 min 00 s", "n/a"]


def test_time_per_row_leaves_breaks_and_bulk_actions_out():
    assert row_gaps([100.0, 10.0, 40.0, 1000.0], cap=300) == ([30.0, 60.0], 1)  # sorted; 900 s is a break
    decided = [Decided("ada", f"r{i}", t, "accept") for i, t in enumerate([0, 20, 50, 2000, 2010])]
    decided += [Decided("ada", f"b{i}", 3000.0, "reject", bulk=True) for i in range(50)]
    [ada] = reviewer_stats(decided, cap=IDLE_CAP_S)
    assert (ada.decisions, ada.accepted, ada.rejected, ada.timed, ada.breaks) == (55, 5, 50, 3, 1)
    assert ada.median_s == 20.0  # gaps 20, 30, 10 (1950 s is a break; the bulk's 50 rows are not timed)
    assert ada.reject_share == pytest.approx(50 / 55)


def test_one_decision_has_no_time_per_row():
    [bob] = reviewer_stats([Decided("bob", "r1", 5.0, "fix")])
    assert (bob.fixed, bob.median_s, bob.timed) == (1, None, 0)
    assert fmt.duration(bob.median_s) == "n/a"


def test_pairwise_agreement_on_rows_both_decided():
    d = [Decided("ada", "r1", 1, "accept"), Decided("bob", "r1", 2, "fix"),  # a fix agrees with an accept
         Decided("ada", "r2", 3, "reject"), Decided("bob", "r2", 4, "accept"),
         Decided("ada", "r3", 5, "accept"), Decided("bob", "r3", 6, "accept"),
         Decided("ada", "r4", 7, "reject"), Decided("bob", "r4", 8, "reject"),
         Decided("ada", "r5", 9, "accept"),  # ada only: not shared
         Decided("eve", "r1", 10, "reject"), Decided("eve", "r1", 11, "accept")]  # eve's latest is hers
    pairs = {(p.a, p.b): p for p in agreement(d)}
    assert set(pairs) == {("ada", "bob"), ("ada", "eve"), ("bob", "eve")}
    ab = pairs["ada", "bob"]
    assert (ab.shared, ab.agreed, ab.share) == (4, 3, 0.75)
    # po 0.75; ada accepts 2/4, bob 3/4: pe = 0.5*0.75 + 0.5*0.25 = 0.5; kappa (0.75-0.5)/0.5
    assert ab.kappa == pytest.approx(0.5)
    assert (pairs["ada", "eve"].shared, pairs["ada", "eve"].agreed) == (1, 1)
    assert pairs["ada", "eve"].kappa is None  # one label on both sides: kappa is undefined, not 1


def test_kappa_of_literal_labels():
    assert cohen_kappa([]) is None
    assert cohen_kappa([("accept", "reject"), ("reject", "accept")]) == pytest.approx(-1.0)
    assert cohen_kappa([("accept", "accept"), ("reject", "reject")]) == pytest.approx(1.0)


def test_the_store_counts_live_decisions_only(con):
    rows = queue.list_rows(con, queue.Filters(), limit=3)
    queue.skip(con, rows[0]["id"], "s-ada")  # a skip is not a decision
    decide(con, Action(rows[1]["id"], rows[1]["version"], "s-ada", "ada", "note", note="check the date"))
    decide(con, Action(rows[2]["id"], rows[2]["version"], "s-ada", "ada", "reject", reason="low quality"))
    decide(con, Action(rows[2]["id"], rows[2]["version"] + 1, "s-bob", "bob", "accept"))
    assert [(d.reviewer, d.action) for d in load_decided(con)] == [("ada", "reject"), ("bob", "accept")]
    people, pairs = reviewer_table(con)
    assert [(p["reviewer"], p["decisions"], p["rejected share"], p["time per row"]) for p in people] == [
        ("ada", "1", "100.0%", "n/a"), ("bob", "1", "0.0%", "n/a")]
    assert pairs == [{"reviewers": "ada · bob", "rows both decided": "1", "agreed": "0", "agreement": "0.0%",
                      "Cohen's kappa": "0.00"}]  # one disagreement, no chance agreement: 0


def test_stats_page(db):  # noqa: F811
    con = connect(db)
    for who in ("ada", "bob"):  # both decide the same two rows: one agreement, one not
        for i, row in enumerate(queue.list_rows(con, queue.Filters(statuses=()), limit=2)):
            kind = "reject" if (who, i) == ("bob", 1) else "accept"
            decide(con, Action(row["id"], row["version"], f"s-{who}", who, kind, reason="duplicate"))
    at = start()
    at.sidebar.radio(key="page").set_value("Stats").run()
    assert not at.exception
    people, pairs = at.table[0].value, at.table[1].value
    assert list(people["reviewer"]) == ["ada", "bob"] and list(people["rejected share"]) == ["0.0%", "50.0%"]
    assert list(pairs["rows both decided"]) == ["2"] and list(pairs["agreement"]) == ["50.0%"]
    assert any("Skips and notes are not decisions" in c.value and "5 min" in c.value for c in at.caption)
