"""The review store: SQLite in WAL mode, an embedded real database with nothing to install.

Tables: ``rows`` (one per row of the imported curate run, with its current status, fixed messages, a
version number that every change bumps, and a lease held by one browser session), ``decisions``
(append only: who, when, what, and the row's fields before, so an undo restores them exactly),
``skipped`` (rows a session skipped in its current pass), ``meta`` (the run id the store holds, the
double-review share), ``retired_rows`` (rows of an earlier run, kept after ``--carry-over``) and
``rows_fts`` (the full-text index of the rows' text, :mod:`review_app.search`).
Nothing is deleted. The schema is versioned (:mod:`review_app.migrations`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from review_app.errors import ConflictError  # noqa: F401 - re-exported: the store raises it
from review_app.errors import NoRunError
from review_app import search
from review_app.migrations import migrate


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (and create, or migrate to the current schema) the store. WAL lets readers and one writer
    work at once; a busy timeout lets two writers queue instead of failing.

    Raises :class:`review_app.errors.StoreVersionError` for a store made by a newer Sieve, or one with
    a full-text index that this Python's SQLite cannot keep (:func:`review_app.search.ensure`)."""
    con = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    migrate(con)
    search.ensure(con)
    return con


@contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT: all of a decision lands, or none of it (a crash rolls back)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def get_meta(con: sqlite3.Connection, key: str) -> str | None:
    r = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if r is None else r[0]


def set_meta(con: sqlite3.Connection, key: str, value: str) -> None:
    con.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))


def held_run(con: sqlite3.Connection) -> str | None:
    """The run id of the curate run the store holds ("" for a first-release run without one), or None
    when no run was ever imported: a store ``sieve review add-reviewer`` made before ``sieve review``."""
    return get_meta(con, "run_id")


def require_run(con: sqlite3.Connection, run_dir: str | Path | None = None) -> str:
    """:func:`held_run`; raises :class:`NoRunError`, naming the store file, when the store holds no run:
    such a store has no rows and no decisions, so it must never stand in for a run (as an empty one)."""
    held = held_run(con)
    if held is None:
        path = con.execute("PRAGMA database_list").fetchone()[2]
        raise NoRunError(f"{path}: the review store holds no curate run yet (only reviewer accounts, if any): "
                         f"import it first with `sieve review {run_dir or 'RUN_DIR'} --import-only`")
    return held


def row_dict(r: sqlite3.Row) -> dict:
    """A row with its JSON columns decoded (``messages``, ``fixed_messages``) and ``reasons`` a list."""
    d = dict(r)
    d["reasons"] = [x for x in d["reasons"].split("\x1f") if x]
    d["messages"] = json.loads(d["messages"])
    d["fixed_messages"] = json.loads(d["fixed_messages"]) if d["fixed_messages"] else None
    return d


def shown_messages(row: dict) -> list[dict]:
    """The conversation as it stands: the fix when there is one, else the imported messages."""
    return row["fixed_messages"] or row["messages"]


def get_row(con: sqlite3.Connection, row_id: str) -> dict:
    """The row ``row_id``; raises ``KeyError`` when the store has no such row."""
    r = con.execute("SELECT * FROM rows WHERE id = ?", (row_id,)).fetchone()
    if r is None:
        raise KeyError(row_id)
    return row_dict(r)


def history(con: sqlite3.Connection, row_id: str) -> list[dict]:
    """Every decision on a row, oldest first (undone and earlier-run ones included, marked)."""
    return [dict(r) for r in con.execute("SELECT * FROM decisions WHERE row_id = ? ORDER BY seq", (row_id,))]


def changes_since(con: sqlite3.Connection, row_id: str, version: int) -> list[dict]:
    """Decisions and undos that moved the row past ``version`` (what another reviewer did meanwhile)."""
    return [dict(r) for r in con.execute(
        "SELECT * FROM decisions WHERE row_id = ? AND retired = 0 AND version > ? ORDER BY seq", (row_id, version))]
