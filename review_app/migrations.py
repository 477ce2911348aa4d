"""Numbered migrations of the review store, tracked with ``PRAGMA user_version``.

Migration N takes a store at version N-1 to version N. The first release wrote its schema without a
version (user_version 0), which is exactly migration 1; a store it made therefore continues at 2. Add a
migration for every schema change; never edit one that has shipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable

from review_app.errors import StoreVersionError

# The schema of the first release, as it wrote it (CREATE ... IF NOT EXISTS on every connect).
FIRST_RELEASE = """
CREATE TABLE IF NOT EXISTS rows (
    id TEXT PRIMARY KEY, run TEXT NOT NULL, row_idx INTEGER NOT NULL, verdict TEXT NOT NULL,
    reasons TEXT NOT NULL, quality REAL NOT NULL, lang TEXT, dup_cluster TEXT, format TEXT NOT NULL,
    source TEXT NOT NULL, messages TEXT NOT NULL, metadata TEXT NOT NULL, prompt TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', fixed_messages TEXT, fixed_metadata TEXT, version INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT, lease_until REAL, double_review INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rows_queue ON rows(verdict, status, quality);
CREATE INDEX IF NOT EXISTS rows_cluster ON rows(dup_cluster);
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, row_id TEXT NOT NULL REFERENCES rows(id), reviewer TEXT NOT NULL,
    at REAL NOT NULL, action TEXT NOT NULL, reason TEXT, note TEXT, before TEXT, after TEXT,
    version INTEGER NOT NULL, undone INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS decisions_row ON decisions(row_id);
CREATE TABLE IF NOT EXISTS runs (path TEXT PRIMARY KEY, imported_at REAL NOT NULL, manifest TEXT NOT NULL);
"""


def content_hash(messages: list[dict]) -> str:
    """The key that carries a decision from one run to the next: the messages' roles and contents."""
    canon = [{"role": m.get("role"), "content": m.get("content")} for m in messages]
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def relative_source(source: str, root: str | None) -> str:
    """``file:line`` with the file relative to ``root`` (the inputs' common folder): no absolute path
    of the machine ever reaches the screen."""
    path, _, line = source.rpartition(":")
    if not path:
        return source
    return f"{relative_path(path, root)}:{line}"


def relative_path(path: str, root: str | None) -> str:
    """``path`` relative to ``root`` when both allow it, else its file name if it is absolute."""
    if root and os.path.isabs(path):
        path = os.path.relpath(path, root)
    return os.path.basename(path) if os.path.isabs(path) else path


def source_root(paths: list[str]) -> str | None:
    """The common folder of the input files (None when there are none or they are not absolute)."""
    files = [p for p in paths if os.path.isabs(p)]
    if not files:
        return None
    return os.path.dirname(files[0]) if len(set(files)) == 1 else os.path.commonpath(files)


def _m1_first_release(con: sqlite3.Connection) -> None:
    # IF NOT EXISTS: on a store the first release made (tables there, user_version 0) this only stamps it.
    for stmt in FIRST_RELEASE.split(";"):
        if stmt.strip():
            con.execute(stmt)


def _m2_sessions_undo_runs(con: sqlite3.Connection) -> None:
    """Leases owned by browser sessions, exact undo, bulk units, per-pass skips, the run a store holds,
    carry-over by content hash, and row titles without absolute paths."""
    for stmt in (
        "ALTER TABLE rows ADD COLUMN content_hash TEXT",
        "ALTER TABLE rows ADD COLUMN carried_from TEXT",
        "ALTER TABLE rows ADD COLUMN lease_reviewer TEXT",
        "ALTER TABLE decisions ADD COLUMN session TEXT",
        "ALTER TABLE decisions ADD COLUMN batch TEXT",
        "ALTER TABLE decisions ADD COLUMN prev TEXT",
        "ALTER TABLE decisions ADD COLUMN retired INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX decisions_reviewer ON decisions(reviewer, undone, retired)",
        "CREATE INDEX decisions_batch ON decisions(batch)",
        "CREATE INDEX rows_hash ON rows(content_hash)",
        "CREATE INDEX rows_lease ON rows(lease_owner)",  # every claim first drops the session's old lease
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE skipped (session TEXT NOT NULL, row_id TEXT NOT NULL, PRIMARY KEY (session, row_id)) WITHOUT ROWID",
        "CREATE TABLE retired_rows AS SELECT *, '' AS retired_run FROM rows WHERE 0",
        "UPDATE rows SET lease_owner = NULL, lease_until = NULL",  # leases of the first release named people
    ):
        con.execute(stmt)
    rows = con.execute("SELECT id, messages, source FROM rows").fetchall()
    root = source_root([r[2].rpartition(":")[0] for r in rows])
    con.executemany("UPDATE rows SET content_hash = ?, source = ? WHERE id = ?",
                    [(content_hash(json.loads(m)), relative_source(s, root), i) for i, m, s in rows])
    if rows:  # a first-release store: one unnamed run, with the double-review share it was made with
        n_double, n_review = con.execute("SELECT SUM(double_review), SUM(verdict = 'review') FROM rows").fetchone()
        share = round((n_double or 0) / n_review, 2) if n_review else 0.0
        con.executemany("INSERT INTO meta VALUES (?, ?)", [("run_id", ""), ("double_review", str(share))])


def _m3_signals(con: sqlite3.Connection) -> None:
    """The row's quality signals (JSON of the signal columns of annotated.parquet), shown beside the row.
    Rows imported before stay NULL until the run is imported again (``sieve review RUN_DIR`` does)."""
    con.execute("ALTER TABLE rows ADD COLUMN signals TEXT")
    con.execute("ALTER TABLE retired_rows ADD COLUMN signals TEXT")  # _retire copies every column of rows


def _m4_scripts(con: sqlite3.Connection) -> None:
    """Each row's Unicode scripts (a bit mask, :data:`review_app.languages.SCRIPT_BITS`) for the Script
    filter, computed here for the rows already stored from their imported messages."""
    from review_app.languages import message_masks  # it imports this module's path helpers

    con.execute("ALTER TABLE rows ADD COLUMN scripts INTEGER NOT NULL DEFAULT 0")
    con.execute("ALTER TABLE retired_rows ADD COLUMN scripts INTEGER NOT NULL DEFAULT 0")  # _retire copies rows
    rows = con.execute("SELECT id, messages FROM rows").fetchall()
    con.executemany("UPDATE rows SET scripts = ? WHERE id = ?",
                    zip(message_masks([r[1] for r in rows]), [r[0] for r in rows]))


def _m5_bulk_actions(con: sqlite3.Connection) -> None:
    """One record per bulk action (its decisions share the ``batch`` id): who, when, what, how many rows
    it changed and left alone, and who undid it when. The decisions keep each row's before and after."""
    con.execute("CREATE TABLE bulk_actions (batch TEXT PRIMARY KEY, reviewer TEXT NOT NULL, session TEXT, "
                "at REAL NOT NULL, action TEXT NOT NULL, reason TEXT, scope TEXT NOT NULL, picked INTEGER NOT NULL, "
                "done INTEGER NOT NULL, conflicts INTEGER NOT NULL, held INTEGER NOT NULL, invalid INTEGER NOT NULL, "
                "undone_at REAL, undone_by TEXT)")
    con.execute("CREATE INDEX bulk_actions_reviewer ON bulk_actions(reviewer, at)")
    # Bulk actions made before this table: one record each, rebuilt from their decisions.
    con.execute("INSERT INTO bulk_actions SELECT batch, MIN(reviewer), MIN(session), MIN(at), MIN(action), "
                "MIN(reason), 'filter', COUNT(*), COUNT(*), 0, 0, 0, NULL, NULL FROM decisions "
                "WHERE batch IS NOT NULL AND action IN ('accept', 'reject') GROUP BY batch")
    con.execute("UPDATE bulk_actions SET undone_at = (SELECT MAX(at) FROM decisions d WHERE d.batch = "
                "bulk_actions.batch AND d.action = 'undo'), undone_by = (SELECT MIN(reviewer) FROM decisions d "
                "WHERE d.batch = bulk_actions.batch AND d.action = 'undo')")


def _m6_reviewers(con: sqlite3.Connection) -> None:
    """Reviewer accounts for teams: a name (unique whatever its ASCII case: Ada and ada are one reviewer) and an argon2 hash of the password,
    never the password. No account: the app keeps its zero-setup sign-in (a name, and the shared password
    when one is set)."""
    con.execute("CREATE TABLE reviewers (name TEXT PRIMARY KEY COLLATE NOCASE, password_hash TEXT NOT NULL, "
                "created_at REAL NOT NULL, changed_at REAL NOT NULL)")


def _m7_scale(con: sqlite3.Connection) -> None:
    """A store of a million rows. The queue's index covers everything the next-row query reads (verdict,
    status, quality, order, lease, id, and the reason, language and script filters), so finding the next
    row never reads the rows themselves: a few milliseconds at 1M rows instead of 40-130 ms. And text search through SQLite's
    full-text index (:mod:`review_app.search`) over every row's imported and fixed text, with the
    triggers that keep it in step; where this SQLite has no FTS5 nothing is created (search scans), and
    the store gets its index when a SQLite with FTS5 opens it."""
    from review_app import search

    con.execute("DROP INDEX IF EXISTS rows_queue")  # a prefix of the new one
    con.execute("CREATE INDEX rows_next ON rows(verdict, status, quality, row_idx, lease_owner, lease_until, id, "
                "reasons, lang, scripts)")
    search.install(con)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m1_first_release, _m2_sessions_undo_runs, _m3_signals,
                                                          _m4_scripts, _m5_bulk_actions,
                                                          _m6_reviewers, _m7_scale]
LATEST = len(MIGRATIONS)


def migrate(con: sqlite3.Connection) -> int:
    """Bring the store to :data:`LATEST`, each migration in its own transaction; returns the version it
    found. A store without a version but with tables is the first release's (version 1).

    Raises :class:`StoreVersionError` for a store made by a newer Sieve."""
    found = con.execute("PRAGMA user_version").fetchone()[0]
    if found > LATEST:
        raise StoreVersionError(f"this review store has schema version {found}; this Sieve knows up to {LATEST}: "
                           "upgrade Sieve to open it")
    for number in range(found + 1, LATEST + 1):
        con.execute("BEGIN IMMEDIATE")
        try:
            now = con.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated meanwhile
            if now < number:
                MIGRATIONS[number - 1](con)
                con.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    return found

