"""The review store: SQLite in WAL mode, an embedded real database with nothing to install.

Tables: ``rows`` (one per curated row, with its current status, fixed messages and a version number for
optimistic locking, plus a lease so two reviewers never hold the same row) and ``decisions`` (append
only: reviewer, time, action, reason, note, and for a fix the before and after). Nothing is deleted.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
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


class ConflictError(RuntimeError):
    """Another reviewer changed the row since it was loaded; nothing was overwritten."""


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (and create) the store. WAL lets readers and one writer work at once; a busy timeout lets
    two writers queue instead of failing."""
    con = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.executescript(SCHEMA)
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


def import_run(con: sqlite3.Connection, run_dir: str | Path, double_share: float = 0.0) -> dict[str, int]:
    """Import a ``sieve curate`` output folder. Idempotent: rows already in the store keep their status
    and decisions; rows new to the run are added. Returns counts (``added``, ``kept``)."""
    import polars as pl

    run = Path(run_dir).resolve()
    cols = ["id", "row_idx", "verdict", "reasons", "quality", "lang_response", "dup_cluster", "format",
            "source_file", "source_line", "messages", "metadata", "prompt"]
    frame = pl.read_parquet(run / "annotated.parquet", columns=cols)
    frame = frame.with_columns(
        reasons=pl.col("reasons").list.join("\x1f"),
        source=pl.format("{}:{}", "source_file", "source_line"),
        messages=pl.col("messages").map_batches(
            lambda s: pl.Series([json.dumps(m, ensure_ascii=False) for m in s.to_list()]), return_dtype=pl.String),
        double=(pl.col("id").hash(seed=3) % 10_000 < int(double_share * 10_000)).cast(pl.Int64),
    )
    before = con.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    data = frame.select("id", pl.lit(str(run)), "row_idx", "verdict", "reasons", "quality", "lang_response",
                        "dup_cluster", "format", "source", "messages", "metadata", "prompt", "double").rows()
    with transaction(con):
        con.executemany(
            "INSERT INTO rows (id, run, row_idx, verdict, reasons, quality, lang, dup_cluster, format, source, "
            "messages, metadata, prompt, double_review) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(id) DO NOTHING", data)
        con.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?)",
                    (str(run), time.time(), (run / "manifest.json").read_text()))
    after = con.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    return {"added": after - before, "kept": frame.height - (after - before)}


def row_dict(r: sqlite3.Row) -> dict:
    d = dict(r)
    d["reasons"] = [x for x in d["reasons"].split("\x1f") if x]
    d["messages"] = json.loads(d["messages"])
    d["fixed_messages"] = json.loads(d["fixed_messages"]) if d["fixed_messages"] else None
    return d


def get_row(con: sqlite3.Connection, row_id: str) -> dict:
    r = con.execute("SELECT * FROM rows WHERE id = ?", (row_id,)).fetchone()
    if r is None:
        raise KeyError(row_id)
    return row_dict(r)


def history(con: sqlite3.Connection, row_id: str) -> list[dict]:
    """Every decision on a row, oldest first (undone ones included, marked)."""
    return [dict(r) for r in con.execute("SELECT * FROM decisions WHERE row_id = ? ORDER BY seq", (row_id,))]
