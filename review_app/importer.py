"""Importing a ``sieve curate`` run into a review store, and carrying decisions over to a new run.

A store holds one run: the ``run_id`` of the run's ``manifest.json`` (a first-release run has none and
is treated as one unnamed run). Re-importing the same run is idempotent. Importing another run is a
:class:`RunMismatchError` unless ``carry_over`` is set: then the old rows move to ``retired_rows`` and
every decision whose messages (by content hash) appear in the new run is carried to the new row.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from review_app import search
from review_app.errors import OptionError, ReviewError, RunMismatchError
from review_app.import_rows import COLUMNS, count_rows, store_rows
from review_app.store import get_meta, require_run, set_meta, transaction

CARRY_FLAG = "--carry-over"


@dataclass
class ImportResult:
    run_id: str  # "" for a first-release run without a run id
    added: int = 0
    kept: int = 0
    carried: int = 0
    retired: int = 0
    double_review: float = 0.0
    notes: list[str] = field(default_factory=list)


def run_label(run_id: str) -> str:
    return f"run {run_id}" if run_id else "an unnamed run (first release, no run id)"


def read_manifest(run: Path) -> dict:
    """The run's manifest (:func:`curate.run_folder.read_manifest`); raises :class:`ReviewError` for a
    folder without a complete one."""
    from curate.errors import IncompleteRunError
    from curate.run_folder import read_manifest as read_run_manifest

    try:
        man = read_run_manifest(run)
    except IncompleteRunError as exc:
        raise ReviewError(str(exc)) from None
    if not (run / "annotated.parquet").is_file():
        raise ReviewError(f"{run}: not a finished `sieve curate` run (no annotated.parquet)")
    return man


def check_run(con: sqlite3.Connection, run_dir: str | Path) -> str:
    """The run id of ``run_dir`` when the store holds that run; raises :class:`RunMismatchError` naming
    ``--carry-over`` when it holds another (a stale store: the folder was curated again), and
    :class:`NoRunError` when it holds none yet (made by ``add-reviewer`` before any import)."""
    run = Path(run_dir).resolve()
    run_id = str(read_manifest(run).get("run_id") or "")
    held = require_run(con, run_dir)
    if held != run_id:
        raise RunMismatchError(
            f"the review store holds {run_label(held)}, but {run} now holds {run_label(run_id)} (it was curated "
            f"again). Run `sieve review {run} {CARRY_FLAG}` to carry the decisions over to the new run by the "
            "content of their messages, or pass another --db to start a fresh store")
    return run_id


def import_run(con: sqlite3.Connection, run_dir: str | Path, double_share: float | None = None,
               carry_over: bool = False) -> ImportResult:
    """Import the curate run in ``run_dir``; returns what happened, with notes for the user.

    ``double_share`` (share of review rows that need two reviewers) is fixed at the first import; asking
    for another share later raises :class:`OptionError`. Raises :class:`RunMismatchError` for another
    run without ``carry_over``, :class:`ReviewError` for a folder that is not a finished run."""
    run = Path(run_dir).resolve()
    man = read_manifest(run)
    run_id = str(man.get("run_id") or "")
    res = ImportResult(run_id=run_id)
    if not run_id:
        res.notes.append(f"{run} has no run id (made by the first release): treated as one unnamed run")
    held = get_meta(con, "run_id")
    stored_share = get_meta(con, "double_review")
    if stored_share is not None and double_share is not None and abs(float(stored_share) - double_share) > 1e-9:
        raise OptionError(
            f"--double-review {double_share:g} cannot apply: this store was made with --double-review "
            f"{float(stored_share):g}, and which rows wait for a second reviewer was fixed then. Use another "
            "--db for a new store with the new share")
    share = float(stored_share) if stored_share is not None else (double_share or 0.0)
    res.double_review = share
    switching = held is not None and held != run_id
    if switching and not carry_over:
        check_run(con, run)  # raises, naming the flag
    if carry_over and not switching:
        res.notes.append(f"{CARRY_FLAG}: the store already holds {run_label(run_id)}; nothing to carry over")
    empty = con.execute("SELECT NOT EXISTS (SELECT 1 FROM rows)").fetchone()[0]
    with _rollback_journal(con, empty), transaction(con):
        if switching:
            res.retired = _retire(con, held)
        before = con.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
        _insert(con, run, man, share, fresh=before == 0)
        res.added = con.execute("SELECT COUNT(*) FROM rows").fetchone()[0] - before
        res.kept = count_rows(run) - res.added
        if switching:
            res.carried = _carry(con, held)
            res.notes.append(f"{CARRY_FLAG}: {res.carried:,} decisions carried over from {run_label(held)}; "
                             f"{res.retired:,} rows of it kept in retired_rows")
        set_meta(con, "run_id", run_id)
        set_meta(con, "double_review", repr(share))
        con.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?)", (str(run), time.time(), json.dumps(man)))
    if not search.AVAILABLE:
        res.notes.append(search.SCAN_NOTE)
    return res


INSERT = (f"INSERT INTO rows ({', '.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))}) "
          "ON CONFLICT(id) DO UPDATE SET signals = excluded.signals WHERE rows.signals IS NULL")
# Page cache for the import's one transaction (KiB, negative per SQLite's convention): the id index of a
# million rows is written in random order, and it must stay in memory or every insert reads the disk.
IMPORT_CACHE_KIB = 512 * 1024


def _insert(con: sqlite3.Connection, run: Path, man: dict, share: float, fresh: bool) -> None:
    """Insert the run's rows not in the store yet (a row already there gains its signals if it had none),
    inside the caller's transaction. Rows the store holds whole are not even built: ``sieve review``
    re-imports its run at every start, and at a million rows that is seconds instead of half a minute.

    Into an empty store the rows go in without the secondary indexes, which are then built once from
    sorted data (much faster than a million random index updates); the new rows enter the full-text
    index in one statement at the end (:func:`review_app.search.bulk_insert`)."""
    cache = con.execute("PRAGMA cache_size").fetchone()[0]
    con.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
    indexes = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'rows' "
                          "AND sql IS NOT NULL").fetchall() if fresh else []
    try:
        for name, _ in indexes:
            con.execute(f'DROP INDEX "{name}"')
        whole = [] if fresh else [r[0] for r in con.execute("SELECT id FROM rows WHERE signals IS NOT NULL")]
        with search.bulk_insert(con):
            for chunk in store_rows(run, man, share, skip=whole):
                con.executemany(INSERT, chunk)
        for _, sql in indexes:
            con.execute(sql)
    finally:
        con.execute(f"PRAGMA cache_size = {cache}")


@contextmanager
def _rollback_journal(con: sqlite3.Connection, empty: bool) -> Iterator[None]:
    """The first import into an empty store writes through a rollback journal instead of the WAL: in WAL
    mode every page of a 2.7 GB million-row import is written twice (to the WAL, then into the store at
    the checkpoint), while a rollback journal of an empty store holds next to nothing. SQLite allows the
    switch only when no other connection has the store open; otherwise the import simply stays in WAL
    mode. WAL comes back at the end (and :func:`review_app.store.connect` sets it on every open)."""
    switched = False
    if empty:
        timeout = con.execute("PRAGMA busy_timeout").fetchone()[0]
        con.execute("PRAGMA busy_timeout = 0")  # another connection open: give up at once, not after 30 s
        try:
            switched = con.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
        except sqlite3.OperationalError:  # "database is locked": a reader has it open
            pass
        finally:
            con.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    try:
        yield
    finally:
        if switched:
            con.execute("PRAGMA journal_mode = WAL")


def _retire(con: sqlite3.Connection, held: str) -> int:
    cols = ", ".join(r[1] for r in con.execute("PRAGMA table_info(rows)"))
    n = con.execute(f"INSERT INTO retired_rows ({cols}, retired_run) SELECT {cols}, ? FROM rows", (held,)).rowcount
    con.execute("UPDATE decisions SET retired = 1 WHERE retired = 0")
    search.clear(con)  # the rows leave: so do their index entries (rowids restart with the new run)
    con.execute("DELETE FROM rows")  # moved to retired_rows above, not lost
    con.execute("DELETE FROM skipped")
    return n


def _carry(con: sqlite3.Connection, held: str) -> int:
    """Copy each decided old row's outcome onto the new rows with the same messages (latest one wins)."""
    old = con.execute(
        "SELECT content_hash, id, status, fixed_messages, fixed_metadata FROM retired_rows "
        "WHERE retired_run = ? AND status != 'pending' ORDER BY rowid", (held,)).fetchall()
    by_hash = {r["content_hash"]: r for r in old}
    now, carried = time.time(), 0
    for new in con.execute("SELECT id, content_hash FROM rows WHERE status = 'pending'").fetchall():
        r = by_hash.get(new["content_hash"])
        if r is None:
            continue
        prev = json.dumps({"status": "pending", "fixed_messages": None, "fixed_metadata": None})
        con.execute("UPDATE rows SET status = ?, fixed_messages = ?, fixed_metadata = ?, carried_from = ?, "
                    "version = version + 1 WHERE id = ?",
                    (r["status"], r["fixed_messages"], r["fixed_metadata"], r["id"], new["id"]))
        con.execute("INSERT INTO decisions (row_id, reviewer, at, action, note, version, prev) "
                    "VALUES (?, 'sieve', ?, 'carry_over', ?, 1, ?)",
                    (new["id"], now, f"{r['status']} in {run_label(held)} (row {r['id']})", prev))
        carried += 1
    return carried
