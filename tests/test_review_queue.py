"""Queue and decisions, race by race: two reviewers, a stale version, an expired lease, one name in two
tabs, undo of a fix, undo of a bulk action, skip, filters, double review and adjudication."""

import json
import threading
import time

import pytest

from review_app import queue
from review_app.bulk import bulk_filter
from review_app.decisions import Action, alpaca_fix, decide, undo_last
from review_app.errors import ConflictError, InvalidRowError
from review_app.importer import import_run
from review_app.store import connect, get_row, history
from review_app.tabs import Tabs
from tests.test_review_store import con, run_dir  # noqa: F401 - shared fixtures

LEASE = 60.0
F = queue.Filters()


def claim(c, who, session=None, flt=F, lease=LEASE):
    return queue.claim_next(c, session or f"s-{who}", who, flt, lease)


def act(row, kind, who="ada", session=None, **kw):
    return Action(row["id"], row["version"], session or f"s-{who}", who, kind, **kw)


def test_two_sessions_never_get_the_same_row_even_with_one_name(con):
    a = claim(con, "ada", "tab-1")
    b = claim(con, "ada", "tab-2")  # one name open in two tabs: two sessions, two rows
    c = claim(con, "bob")
    assert len({a["id"], b["id"], c["id"]}) == 3


def test_an_action_lands_on_the_row_it_names_only(con):
    a, b = claim(con, "ada"), claim(con, "bob")
    decide(con, act(b, "accept", "bob"))
    assert get_row(con, b["id"])["status"] == "accepted"
    assert get_row(con, a["id"])["status"] == "pending" and history(con, a["id"]) == []


def test_a_stale_version_is_a_conflict_showing_the_other_change(con):
    row = claim(con, "ada")
    decide(con, act(row, "accept"))
    with pytest.raises(ConflictError, match="ada changed this row") as err:
        decide(con, act(row, "reject", "bob", reason="low quality"))
    assert err.value.current["status"] == "accepted"
    assert [(c["reviewer"], c["action"]) for c in err.value.changes] == [("ada", "accept")]
    assert get_row(con, row["id"])["status"] == "accepted"
    assert [d["reviewer"] for d in history(con, row["id"])] == ["ada"]


def test_both_fix_one_row_the_second_save_conflicts_and_keeps_both_texts_apart(con):
    row = claim(con, "ada", lease=0.01)
    time.sleep(0.05)  # ada's lease lapses while she edits; bob opens the same row
    bob_row = queue.open_row(con, row["id"], "s-bob", "bob", LEASE)
    assert bob_row["lease_owner"] == "s-bob"
    fields_b = {"instruction": row["messages"][0]["content"], "input": "", "output": "Bob's answer."}
    decide(con, act(bob_row, "fix", "bob", fixed=alpaca_fix(fields_b), fixed_metadata=fields_b))
    fields_a = {"instruction": row["messages"][0]["content"], "input": "", "output": "Ada's answer."}
    with pytest.raises(ConflictError) as err:
        decide(con, act(row, "fix", "ada", fixed=alpaca_fix(fields_a), fixed_metadata=fields_a))
    assert err.value.current["fixed_messages"][-1]["content"] == "Bob's answer."
    (d,) = [d for d in history(con, row["id"]) if d["action"] == "fix"]
    assert d["reviewer"] == "bob" and "Bob's answer." in d["after"]
    # redo: ada saves again on the version she has now seen
    again = decide(con, act(err.value.current, "fix", "ada", fixed=alpaca_fix(fields_a), fixed_metadata=fields_a))
    assert again["fixed_messages"][-1]["content"] == "Ada's answer."


def test_an_expired_lease_taken_by_another_session_refuses_the_save(con):
    row = claim(con, "ada", lease=0.01)
    time.sleep(0.05)
    other = claim(con, "bob")
    assert other["id"] == row["id"]  # the lapsed row is offered again
    with pytest.raises(ConflictError, match="bob has this row open"):
        decide(con, act(row, "accept"))
    assert get_row(con, row["id"])["status"] == "pending"
    assert queue.renew_lease(con, row["id"], "s-ada", "ada", LEASE) == "bob"  # the heartbeat says who


def test_an_expired_lease_nobody_took_still_saves_at_the_same_version(con):
    row = claim(con, "ada", lease=0.01)
    time.sleep(0.05)
    assert queue.renew_lease(con, row["id"], "s-ada", "ada", LEASE) is None  # the heartbeat takes it back
    assert decide(con, act(row, "accept"))["status"] == "accepted"


def test_undo_of_a_fix_restores_every_field(con):
    row = claim(con, "ada")
    fields = {"instruction": "Name a colour.", "input": "", "output": "Blue."}
    fixed = decide(con, act(row, "fix", fixed=alpaca_fix(fields), fixed_metadata=fields))
    assert fixed["status"] == "fixed" and fixed["fixed_metadata"]
    res = undo_last(con, "s-ada", "ada")
    back = res.rows[0]
    assert (back["status"], back["fixed_messages"], back["fixed_metadata"]) == ("pending", None, None)
    assert back["version"] == fixed["version"] + 1  # a screen that showed the fix is now stale
    assert [(d["action"], d["undone"]) for d in history(con, row["id"])] == [("fix", 1), ("undo", 0)]
    accepted = decide(con, act(back, "accept"))
    assert accepted["status"] == "accepted" and accepted["fixed_messages"] is None  # the undone fix is gone


def test_undo_of_a_second_fix_restores_the_first(con):
    row = claim(con, "ada")
    one = {"instruction": "Q?", "input": "", "output": "One."}
    two = {"instruction": "Q?", "input": "", "output": "Two."}
    r1 = decide(con, act(row, "fix", fixed=alpaca_fix(one), fixed_metadata=one))
    decide(con, act(r1, "fix", fixed=alpaca_fix(two), fixed_metadata=two))
    back = undo_last(con, "s-ada", "ada").rows[0]
    assert back["fixed_messages"][-1]["content"] == "One." and json.loads(back["fixed_metadata"]) == one


def test_undo_skips_skips_and_notes_and_refuses_over_another_change(con):
    a = claim(con, "ada")
    decide(con, act(a, "accept"))
    b = claim(con, "ada")
    queue.skip(con, b["id"], "s-ada")
    decide(con, act(b, "note", note="look again"))
    assert undo_last(con, "s-ada", "ada").rows[0]["id"] == a["id"]  # the accept, not the skip
    assert get_row(con, a["id"])["status"] == "pending"
    again = get_row(con, a["id"])
    decide(con, act(again, "accept"))
    decide(con, act(get_row(con, a["id"]), "fix", "bob", fixed=alpaca_fix({"instruction": "Q?", "input": "",
                                                                         "output": "Bob."})))
    with pytest.raises(ConflictError, match="bob changed"):
        undo_last(con, "s-ada", "ada")
    assert get_row(con, a["id"])["status"] == "fixed"


def test_skip_moves_to_a_row_not_seen_in_this_pass(con):
    flt = queue.Filters(reason="content.placeholder_prompt")
    n = queue.count(con, flt)
    assert n >= 2
    seen = []
    for _ in range(n):
        row = claim(con, "ada", flt=flt)
        assert row["id"] not in seen
        seen.append(row["id"])
        queue.skip(con, row["id"], "s-ada")
    again = claim(con, "ada", flt=flt)
    assert again["new_pass"] and again["id"] == seen[0]  # every row seen: a new pass starts


def test_filters_show_a_matching_row_and_its_position(con):
    flt = queue.Filters(search="noinput")
    row = claim(con, "ada", flt=flt)
    assert row and queue.matches(con, row["id"], flt)
    k, n = queue.position(con, flt, row)
    assert k == 1 and n == queue.count(con, flt)
    placeholder = queue.Filters(reason="content.placeholder_prompt")
    assert all("content.placeholder_prompt" in r["reasons"] for r in queue.list_rows(con, placeholder))


def test_an_invalid_row_cannot_be_accepted_unfixed(con):
    row = claim(con, "ada")
    bad = [{"role": "![x](http://example.com/x.png)", "content": "hi"}, {"role": "assistant", "content": " "}]
    con.execute("UPDATE rows SET messages = ? WHERE id = ?", (json.dumps(bad), row["id"]))
    with pytest.raises(InvalidRowError, match="structure.empty_content"):
        decide(con, act(row, "accept"))
    assert decide(con, act(row, "reject", reason="broken"))["status"] == "rejected"
    with pytest.raises(ValueError):
        alpaca_fix({"instruction": "Q", "input": "", "output": " "})


def test_bulk_is_one_unit_for_undo(con):
    flt = queue.Filters(reason="content.external_reference")
    n = queue.count(con, flt)
    held = claim(con, "bob", flt=flt)  # bob has one of them open: left alone
    res = bulk_filter(con, "s-ada", "ada", flt, "reject", "needs a URL")
    assert (res.done, res.held) == (n - 1, 1)
    assert queue.count(con, flt) == 1
    undone = undo_last(con, "s-ada", "ada")
    assert undone.bulk and len(undone.rows) == n - 1
    assert queue.count(con, flt) == n and get_row(con, held["id"])["status"] == "pending"


def test_double_review_is_blind_disputes_and_adjudication_either_way(run_dir, tmp_path):  # noqa: F811
    c = connect(tmp_path / "double.sqlite")
    import_run(c, run_dir, double_share=1.0)
    rows = queue.list_rows(c, F, limit=4)
    outcome = []
    for r, (a, b) in zip(rows, [("accept", "accept"), ("reject", "reject"), ("accept", "reject"), ("reject", "accept")]):
        first = decide(c, Action(r["id"], r["version"], "s-ada", "ada", a, reason="low quality"))
        assert first["status"] == "second_review"
        assert queue.claim_next(c, "s-ada2", "ada", queue.Filters(statuses=("second_review",)), LEASE) is None
        second = decide(c, Action(r["id"], first["version"], "s-bob", "bob", b, reason="low quality"))
        outcome.append(second["status"])
    assert outcome == ["accepted", "rejected", "disputed", "disputed"]
    disputes = queue.list_rows(c, queue.DISPUTES)
    assert {d["id"] for d in disputes} == {rows[2]["id"], rows[3]["id"]}
    # the adjudicator's decision is final in either direction
    assert decide(c, Action(rows[2]["id"], disputes[0]["version"] if disputes[0]["id"] == rows[2]["id"]
                            else disputes[1]["version"], "s-cy", "cy", "accept"))["status"] == "accepted"
    d3 = get_row(c, rows[3]["id"])
    assert decide(c, Action(d3["id"], d3["version"], "s-cy", "cy", "reject", reason="wrong"))["status"] == "rejected"
    from review_app.progress import agreement, progress

    assert agreement(c) == 0.0
    p = progress(c)
    assert p["reviewers"]["ada"]["decisions"] == 4 and p["disputed"] == 0


def test_concurrent_writers_from_two_threads(con):
    path = con.execute("PRAGMA database_list").fetchone()[2]
    rows = queue.list_rows(con, F, limit=20)
    errors = []

    def worker(name, part):
        c = connect(path)
        for r in part:
            try:
                decide(c, Action(r["id"], r["version"], f"s-{name}", name, "accept"))
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n, rows[i::2])) for i, n in enumerate(("ada", "bob"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert con.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 20


def test_progress_leaves_out_skips_and_reads_per_hour(con):
    from review_app.progress import progress

    row = claim(con, "ada")
    queue.skip(con, row["id"], "s-ada")
    assert progress(con)["reviewers"] == {}
    decide(con, act(claim(con, "ada"), "accept"))
    assert progress(con)["reviewers"]["ada"] == {"decisions": 1, "per_hour": None}


def test_a_closed_or_reloaded_tab_frees_its_row_at_once(con):  # noqa: F811
    tabs, connected = Tabs(), {"tab-a", "tab-b"}
    held = claim(con, "ada", "s-ada", lease=600)  # a long lease: only the tab going can free it now
    other = claim(con, "bob", "s-bob", lease=600)
    queue.skip(con, other["id"], "s-ada")
    tabs.register("s-ada", "tab-a")
    tabs.register("s-bob", "tab-b")
    assert tabs.gone(connected.__contains__) == []
    connected.discard("tab-a")  # Ada reloads: Streamlit drops her old tab's session at once
    gone = tabs.gone(connected.__contains__)
    assert gone == ["s-ada"] and tabs.gone(connected.__contains__) == []  # handed back once
    assert queue.release_sessions(con, gone) == 1
    assert claim(con, "ada", "s-ada-2", lease=600)["id"] == held["id"]  # her new session gets it straight back
    assert get_row(con, other["id"])["lease_owner"] == "s-bob"  # Bob's tab is open: his row stays his
    assert con.execute("SELECT COUNT(*) FROM skipped WHERE session = 's-ada'").fetchone()[0] == 0
    assert queue.release_sessions(con, []) == 0


def test_progress_counts_a_dispute_on_a_kept_row(run_dir, tmp_path):  # noqa: F811
    from review_app.progress import progress

    c = connect(tmp_path / "double.sqlite")
    import_run(c, run_dir, double_share=1.0)
    kept = queue.list_rows(c, queue.Filters(verdicts=("keep",)), limit=1)[0]
    first = decide(c, Action(kept["id"], kept["version"], "s-ada", "ada", "accept"))
    assert decide(c, Action(kept["id"], first["version"], "s-bob", "bob", "reject", reason="x"))["status"] == "disputed"
    assert progress(c)["disputed"] == queue.count(c, queue.DISPUTES) == 1  # the Disputes page lists it too
