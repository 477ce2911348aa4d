"""The review store: import, schema version and migrations (a store made the first release's way),
the run a store holds, carry-over to a new run, crash safety, and the one approved-rows function."""

import json
import shutil
import sqlite3

import pytest

from curate.outputs import write_outputs
from curate.pipeline import run_curate
from review_app import queue
from review_app.decisions import Action, decide
from review_app.errors import OptionError, ReviewError, RunMismatchError, StoreVersionError
from review_app.export import approved_conversations, approved_rows, export_approved
from review_app.importer import check_run, import_run
from review_app.migrations import FIRST_RELEASE, LATEST
from review_app.store import connect, get_meta, get_row, history, transaction
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


def with_run_id(run_dir, tmp_path, run_id: str | None):
    """A copy of the run whose manifest carries ``run_id`` (None: a first-release manifest, no id)."""
    copy = tmp_path / f"run-{run_id}"
    shutil.copytree(run_dir, copy)
    man = json.loads((copy / "manifest.json").read_text())
    man.pop("run_id", None)
    if run_id is not None:
        man["run_id"] = run_id
    (copy / "manifest.json").write_text(json.dumps(man))
    return copy


def accept(c, row, who="ada"):
    return decide(c, Action(row["id"], row["version"], f"s-{who}", who, "accept"))


def test_import_is_idempotent_and_keeps_decisions(run_dir, con):
    assert con.execute("SELECT COUNT(*) FROM rows").fetchone()[0] == 284
    row = queue.list_rows(con, queue.Filters())[0]
    accept(con, row)
    again = import_run(con, run_dir)
    assert (again.added, again.kept) == (0, 284)
    assert get_row(con, row["id"])["status"] == "accepted"
    assert con.execute("SELECT journal_mode FROM pragma_journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == LATEST


def test_row_titles_have_no_absolute_path(con):
    sources = [r[0] for r in con.execute("SELECT source FROM rows")]
    assert all(s.startswith("alpaca_sample.jsonl:") for s in sources), sources[:3]


def first_release_store(path, run_dir):
    """A store exactly as the first release built it: its schema, no user_version, absolute sources,
    leases named after people, a decision without the fields the second release records."""
    import polars as pl

    c = sqlite3.connect(path)
    c.executescript(FIRST_RELEASE)
    f = pl.read_parquet(run_dir / "annotated.parquet").head(5)
    for i, r in enumerate(f.iter_rows(named=True)):
        c.execute("INSERT INTO rows (id, run, row_idx, verdict, reasons, quality, format, source, messages, metadata, "
                  "prompt, status, version, lease_owner, lease_until) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  (r["id"], str(run_dir), r["row_idx"], "review", "", 0.5, "alpaca",
                   f"{r['source_file']}:{r['source_line']}", json.dumps(r["messages"]), r["metadata"], r["prompt"],
                   "accepted" if i == 0 else "pending", 1 if i == 0 else 0, "ada", 9e12))
    c.execute("INSERT INTO decisions (row_id, reviewer, at, action, version) VALUES (?, 'ada', 1.0, 'accept', 1)",
              (f["id"][0],))
    c.execute("INSERT INTO runs VALUES (?, 1.0, ?)", (str(run_dir), (run_dir / "manifest.json").read_text()))
    c.commit()
    c.close()
    return f["id"].to_list()


def test_a_first_release_store_opens_and_migrates(run_dir, tmp_path):
    ids = first_release_store(tmp_path / "old.sqlite", run_dir)
    c = connect(tmp_path / "old.sqlite")
    assert c.execute("PRAGMA user_version").fetchone()[0] == LATEST
    assert get_row(c, ids[0])["status"] == "accepted" and len(history(c, ids[0])) == 1
    assert all(":" in r[0] and not r[0].startswith("/") for r in c.execute("SELECT source FROM rows"))
    assert c.execute("SELECT COUNT(*) FROM rows WHERE lease_owner IS NOT NULL").fetchone()[0] == 0
    assert c.execute("SELECT COUNT(*) FROM rows WHERE content_hash IS NULL").fetchone()[0] == 0
    assert get_meta(c, "run_id") == ""  # one unnamed run
    with pytest.raises(ReviewError, match="first release"):  # it did not record what it replaced
        from review_app.decisions import undo_last
        undo_last(c, "s-ada", "ada")
    c.close()
    again = connect(tmp_path / "old.sqlite")  # reopening is a no-op
    assert again.execute("PRAGMA user_version").fetchone()[0] == LATEST
    old_run = with_run_id(run_dir, tmp_path, None)
    res = import_run(again, old_run)  # the first-release run, without a run id: the same unnamed run
    assert res.run_id == "" and any("unnamed" in n for n in res.notes)
    assert get_row(again, ids[0])["status"] == "accepted"


def test_a_store_from_a_newer_sieve_is_refused(tmp_path):
    c = sqlite3.connect(tmp_path / "new.sqlite")
    c.execute(f"PRAGMA user_version = {LATEST + 1}")
    c.close()
    with pytest.raises(StoreVersionError, match="upgrade Sieve"):
        connect(tmp_path / "new.sqlite")


def test_another_run_is_refused_then_carried_over_by_content(run_dir, tmp_path):
    first = with_run_id(run_dir, tmp_path, "run-1")
    second = with_run_id(run_dir, tmp_path, "run-2")
    c = connect(tmp_path / "review.sqlite")
    assert import_run(c, first).run_id == "run-1"
    rows = queue.list_rows(c, queue.Filters(), limit=2)
    accept(c, rows[0])
    decide(c, Action(rows[1]["id"], rows[1]["version"], "s-ada", "ada", "reject", reason="low quality"))
    with pytest.raises(RunMismatchError, match="--carry-over") as err:
        import_run(c, second)
    assert "run-1" in str(err.value) and "run-2" in str(err.value)
    with pytest.raises(RunMismatchError):  # what training checks before reading the store
        check_run(c, second)
    res = import_run(c, second, carry_over=True)
    assert (res.carried, res.retired) == (2, 284)
    assert get_meta(c, "run_id") == "run-2" and check_run(c, second) == "run-2"
    assert get_row(c, rows[0]["id"])["status"] == "accepted"
    assert get_row(c, rows[1]["id"])["status"] == "rejected"
    assert c.execute("SELECT COUNT(*) FROM retired_rows").fetchone()[0] == 284  # nothing deleted


def test_double_review_share_cannot_change_on_an_existing_store(run_dir, con):
    with pytest.raises(OptionError, match="--double-review 0.5 cannot apply"):
        import_run(con, run_dir, double_share=0.5)
    assert import_run(con, run_dir, double_share=0.0).double_review == 0.0


def test_a_crash_between_writes_leaves_no_half_decision(con):
    row = queue.list_rows(con, queue.Filters())[0]
    with pytest.raises(RuntimeError):
        with transaction(con):
            con.execute("INSERT INTO decisions (row_id, reviewer, at, action, version) VALUES (?, 'ada', 0, 'accept', 1)",
                        (row["id"],))
            raise RuntimeError("power cut")
    assert history(con, row["id"]) == [] and get_row(con, row["id"])["status"] == "pending"


def test_one_function_gives_the_approved_rows_for_export_and_training(con, tmp_path):
    from review_app.decisions import alpaca_fix

    rows = queue.list_rows(con, queue.Filters(), limit=3)
    accept(con, rows[0])
    decide(con, Action(rows[1]["id"], rows[1]["version"], "s", "ada", "reject", reason="low quality"))
    fields = {"instruction": "Name a colour.", "input": "", "output": "Blue."}
    decide(con, Action(rows[2]["id"], rows[2]["version"], "s", "ada", "fix", fixed=alpaca_fix(fields),
                       fixed_metadata=fields))
    n = export_approved(con, tmp_path / "approved.jsonl")
    recs = [json.loads(x) for x in (tmp_path / "approved.jsonl").read_text().splitlines()]
    keep = con.execute("SELECT COUNT(*) FROM rows WHERE verdict = 'keep'").fetchone()[0]
    assert n == len(recs) == keep + 2 == len(approved_rows(con))
    ids = [r["sieve"]["id"] for r in recs]
    assert rows[0]["id"] in ids and rows[1]["id"] not in ids and rows[2]["id"] in ids
    fixed_rec = next(r for r in recs if r["sieve"]["id"] == rows[2]["id"])
    assert fixed_rec["output"] == "Blue." and fixed_rec["sieve"]["review"] == "fixed"
    train = approved_conversations(con)
    assert [t["id"] for t in train] == ids
    assert next(t for t in train if t["id"] == rows[2]["id"])["messages"][-1]["content"] == "Blue."
