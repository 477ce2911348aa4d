"""The review store and queue: import, leases, decisions, conflicts, undo, double review, export."""

import json
import sqlite3
import threading

import pytest

from curate.outputs import write_outputs
from curate.pipeline import run_curate
from review_app import queue
from review_app.export import export_approved
from review_app.store import ConflictError, connect, get_row, history, import_run, transaction
from schemas.config import CurateConfig
from tests.conftest import ROOT

SAMPLE = ROOT / "examples" / "alpaca_sample.jsonl"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    write_outputs(run_curate([SAMPLE], CurateConfig()), out)
    return out


@pytest.fixture
def con(run_dir, tmp_path):
    c = connect(tmp_path / "review.sqlite")
    import_run(c, run_dir)
    return c


def test_import_is_idempotent_and_keeps_decisions(run_dir, con):
    total = con.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    assert total == 284
    row = queue.claim_next(con, "ada", queue.Filters())
    queue.decide(con, row["id"], "ada", "accept", row["version"])
    again = import_run(con, run_dir)
    assert again == {"added": 0, "kept": 284}
    assert get_row(con, row["id"])["status"] == "accepted"
    assert con.execute("SELECT journal_mode FROM pragma_journal_mode").fetchone()[0] == "wal"


def test_queue_is_review_rows_worst_first(con):
    rows = queue.list_rows(con, queue.Filters())
    assert rows and all(r["verdict"] == "review" for r in rows)
    assert [r["quality"] for r in rows] == sorted(r["quality"] for r in rows)
    placeholder = queue.list_rows(con, queue.Filters(reason="content.placeholder_prompt"))
    assert placeholder and all("content.placeholder_prompt" in r["reasons"] for r in placeholder)
    found = queue.list_rows(con, queue.Filters(verdicts=[], search="noinput"))
    assert found


def test_two_reviewers_never_get_the_same_row(con):
    a = queue.claim_next(con, "ada", queue.Filters())
    b = queue.claim_next(con, "bob", queue.Filters())
    assert a["id"] != b["id"]


def test_version_check_reports_a_conflict_and_loses_nothing(con):
    row = queue.claim_next(con, "ada", queue.Filters())
    queue.decide(con, row["id"], "ada", "accept", row["version"])
    with pytest.raises(ConflictError):
        queue.decide(con, row["id"], "bob", "reject", row["version"], reason="low quality")
    assert get_row(con, row["id"])["status"] == "accepted"
    assert [d["reviewer"] for d in history(con, row["id"])] == ["ada"]


def test_fix_is_validated_and_audited_then_undone(con):
    row = queue.claim_next(con, "ada", queue.Filters())
    with pytest.raises(ValueError, match="structure.empty_content"):
        queue.decide(con, row["id"], "ada", "fix", row["version"],
                     fixed=[{"role": "user", "content": "Q"}, {"role": "assistant", "content": " "}])
    with pytest.raises(ValueError):
        queue.decide(con, row["id"], "ada", "fix", row["version"], fixed=[{"role": "robot", "content": "x"}])
    fixed = queue.alpaca_fix({"instruction": "Name a colour.", "input": "", "output": "Blue."})
    after = queue.decide(con, row["id"], "ada", "fix", row["version"], fixed=fixed)
    assert after["status"] == "fixed" and after["fixed_messages"][1]["content"] == "Blue."
    (d,) = history(con, row["id"])
    assert json.loads(d["before"]) == row["messages"] and json.loads(d["after"]) == fixed
    undone = queue.undo_last(con, "ada")
    assert undone["status"] == "pending" and undone["fixed_messages"] is None
    assert history(con, row["id"])[0]["undone"] == 1  # kept, marked


def test_reject_needs_a_reason_and_a_reviewer(con):
    row = queue.claim_next(con, "ada", queue.Filters())
    with pytest.raises(ValueError, match="reason"):
        queue.decide(con, row["id"], "ada", "reject", row["version"])
    with pytest.raises(ValueError, match="reviewer"):
        queue.decide(con, row["id"], " ", "accept", row["version"])


def test_concurrent_writers_from_two_threads(con, tmp_path):
    path = con.execute("PRAGMA database_list").fetchone()[2]
    rows = queue.list_rows(con, queue.Filters(), limit=20)
    errors = []

    def worker(name, part):
        c = connect(path)
        for r in part:
            try:
                queue.decide(c, r["id"], name, "accept", r["version"])
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n, rows[i::2])) for i, n in enumerate(("ada", "bob"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert con.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 20


def test_a_crash_between_writes_leaves_no_half_decision(con):
    row = queue.claim_next(con, "ada", queue.Filters())
    with pytest.raises(RuntimeError):
        with transaction(con):
            con.execute("INSERT INTO decisions (row_id, reviewer, at, action, version) VALUES (?, 'ada', 0, 'accept', 1)",
                        (row["id"],))
            raise RuntimeError("power cut")
    assert history(con, row["id"]) == [] and get_row(con, row["id"])["status"] == "pending"


def test_double_review_agreement_and_disputes(run_dir, tmp_path):
    c = connect(tmp_path / "double.sqlite")
    import_run(c, run_dir, double_share=1.0)
    flt = queue.Filters()
    rows = queue.list_rows(c, flt, limit=4)
    for r, (a, b) in zip(rows, [("accept", "accept"), ("reject", "reject"), ("accept", "reject"), ("fix", "accept")]):
        kw = {"reason": "low quality"} if a == "reject" else {}
        if a == "fix":
            kw = {"fixed": r["messages"][:1] + [{"role": "assistant", "content": "A better answer."}]}
        first = queue.decide(c, r["id"], "ada", a, r["version"], **kw)
        assert first["status"] == "second_review"
        second = queue.decide(c, r["id"], "bob", b, first["version"], reason="low quality" if b == "reject" else None)
        assert second["status"] == ("disputed" if (a == "reject") != (b == "reject") else queue.FINAL[b])
    kappa = queue.agreement(c)
    assert kappa is not None and -1 <= kappa <= 1
    assert queue.count(c, queue.Filters(verdicts=[], statuses=["disputed"])) == 1


def test_export_applies_fixes_and_drops_rejections(con, tmp_path):
    rows = queue.list_rows(con, queue.Filters(), limit=3)
    queue.decide(con, rows[0]["id"], "ada", "accept", rows[0]["version"])
    queue.decide(con, rows[1]["id"], "ada", "reject", rows[1]["version"], reason="low quality")
    fixed = queue.alpaca_fix({"instruction": "Name a colour.", "input": "", "output": "Blue."})
    queue.decide(con, rows[2]["id"], "ada", "fix", rows[2]["version"], fixed=fixed,
                 fixed_metadata={"instruction": "Name a colour.", "input": "", "output": "Blue."})
    n = export_approved(con, tmp_path / "approved.jsonl")
    recs = [json.loads(x) for x in (tmp_path / "approved.jsonl").read_text().splitlines()]
    keep = con.execute("SELECT COUNT(*) FROM rows WHERE verdict = 'keep'").fetchone()[0]
    assert n == len(recs) == keep + 2
    ids = {r["sieve"]["id"] for r in recs}
    assert rows[0]["id"] in ids and rows[1]["id"] not in ids and rows[2]["id"] in ids
    fixed_rec = next(r for r in recs if r["sieve"]["id"] == rows[2]["id"])
    assert fixed_rec["output"] == "Blue." and fixed_rec["sieve"]["review"] == "fixed"


def test_bulk_reject_of_a_filter(con):
    flt = queue.Filters(reason="content.external_reference")
    n = queue.count(con, flt)
    assert queue.bulk(con, "ada", flt, "reject", "needs a URL") == n > 0
    assert queue.count(con, flt) == 0
    assert isinstance(sqlite3.sqlite_version, str)
