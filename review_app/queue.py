"""The queue: filters, which row a browser session gets next, leases and skips. Plain functions over
the store; they never import streamlit.

A lease belongs to a browser session (a random id the app makes per tab; a reload is a new session),
lasts ``lease_s`` seconds and is renewed by a heartbeat while the row is open. Statuses: ``pending`` ->
``accepted`` | ``rejected`` | ``fixed``; a double-review row waits in ``second_review`` for a different
reviewer and lands in ``disputed`` when the two disagree, until an adjudicator decides.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from review_app import search
from review_app.languages import SCRIPT_BITS
from review_app.store import get_row, row_dict, transaction

OPEN = ("pending", "second_review")


@dataclass(frozen=True)
class Filters:
    verdicts: tuple[str, ...] = ("review",)
    statuses: tuple[str, ...] = OPEN
    reason: str | None = None
    lang: str | None = None
    script: str | None = None  # a name of review_app.languages.SCRIPTS: the prompt or response uses it
    quality_min: float = 0.0
    quality_max: float = 1.0
    dup_cluster: str | None = None
    search: str | None = None

    def __post_init__(self) -> None:
        if self.script is not None and self.script not in SCRIPT_BITS:
            raise ValueError(f"script {self.script!r} is not one of {', '.join(SCRIPT_BITS)}")

    def where(self) -> tuple[str, list]:
        """SQL condition and arguments selecting the rows these filters match."""
        clauses, args = ["quality BETWEEN ? AND ?"], [self.quality_min, self.quality_max]
        for col, values in (("verdict", self.verdicts), ("status", self.statuses)):
            if values:
                clauses.append(f"{col} IN ({','.join('?' * len(values))})")
                args += list(values)
        if self.reason:
            clauses.append("instr(char(31) || reasons || char(31), char(31) || ? || char(31)) > 0")
            args.append(self.reason)
        if self.lang:
            clauses.append("lang = ?")
            args.append(self.lang)
        if self.script:
            clauses.append("(scripts & ?) != 0")
            args.append(SCRIPT_BITS[self.script])
        if self.dup_cluster:
            clauses.append("dup_cluster = ?")
            args.append(self.dup_cluster)
        if self.search:  # the full-text index when it can answer, else a scan (review_app.search)
            sql, more = search.clause(self.search)
            clauses.append(sql)
            args += more
        return " AND ".join(clauses), args


DISPUTES = Filters(verdicts=(), statuses=("disputed",))


def count(con: sqlite3.Connection, filters: Filters) -> int:
    where, args = filters.where()
    return con.execute(f"SELECT COUNT(*) FROM rows WHERE {where}", args).fetchone()[0]


def list_rows(con: sqlite3.Connection, filters: Filters, limit: int = 50, offset: int = 0) -> list[dict]:
    """Rows matching ``filters``, worst quality first."""
    where, args = filters.where()
    # The page's ids first (from the rows_next index alone with the default filters), then those rows:
    # sorting whole rows would read every matching row of a million-row store.
    sql = (f"SELECT * FROM rows WHERE rowid IN (SELECT rowid FROM rows WHERE {where} ORDER BY quality, row_idx "
           "LIMIT ? OFFSET ?) ORDER BY quality, row_idx")
    return [row_dict(r) for r in con.execute(sql, [*args, limit, offset])]


def matches(con: sqlite3.Connection, row_id: str, filters: Filters) -> bool:
    where, args = filters.where()
    return con.execute(f"SELECT 1 FROM rows WHERE id = ? AND {where}", [row_id, *args]).fetchone() is not None


def position(con: sqlite3.Connection, filters: Filters, row: dict) -> tuple[int, int]:
    """``(k, n)``: the row is the k-th of the n rows the filters match (k is 0 when it does not match)."""
    where, args = filters.where()
    n = con.execute(f"SELECT COUNT(*) FROM rows WHERE {where}", args).fetchone()[0]
    if not matches(con, row["id"], filters):
        return 0, n
    k = con.execute(f"SELECT COUNT(*) FROM rows WHERE {where} AND (quality < ? OR (quality = ? AND row_idx <= ?))",
                    [*args, row["quality"], row["quality"], row["row_idx"]]).fetchone()[0]
    return k, n


def claim_next(con: sqlite3.Connection, session: str, reviewer: str, filters: Filters, lease_s: float) -> dict | None:
    """Lease the next row for this browser session and return it, or None when no row is left.

    The row matches ``filters``, is not held by another live session, was not skipped by this session in
    this pass, and for a second review was not decided by ``reviewer``. When every matching row left was
    skipped, a new pass starts (the skips are forgotten) and the row says so with ``new_pass``."""
    where, args = filters.where()
    now = time.time()
    # Only id: with the default filters the whole query is answered from the rows_next index.
    sql = (f"SELECT id FROM rows WHERE {where} AND (lease_owner IS NULL OR lease_until < ? OR lease_owner = ?) "
           "AND id NOT IN (SELECT row_id FROM skipped WHERE session = ?) "
           "AND NOT (status = 'second_review' AND id IN (SELECT row_id FROM decisions WHERE reviewer = ? "
           "AND undone = 0 AND retired = 0 AND action IN ('accept', 'reject', 'fix'))) "
           "ORDER BY quality, row_idx LIMIT 1")
    with transaction(con):
        con.execute("UPDATE rows SET lease_owner = NULL, lease_until = NULL, lease_reviewer = NULL "
                    "WHERE lease_owner = ?", (session,))
        r = con.execute(sql, [*args, now, session, session, reviewer]).fetchone()
        new_pass = False
        if r is None and con.execute("SELECT 1 FROM skipped WHERE session = ?", (session,)).fetchone():
            con.execute("DELETE FROM skipped WHERE session = ?", (session,))
            r = con.execute(sql, [*args, now, session, session, reviewer]).fetchone()
            new_pass = r is not None
        if r is None:
            return None
        con.execute("UPDATE rows SET lease_owner = ?, lease_until = ?, lease_reviewer = ? WHERE id = ?",
                    (session, now + lease_s, reviewer, r["id"]))
    row = get_row(con, r["id"])
    row["new_pass"] = new_pass
    return row


def open_row(con: sqlite3.Connection, row_id: str, session: str, reviewer: str, lease_s: float) -> dict:
    """Open a given row (after an undo, or "previous"): lease it when nobody else holds it. The returned
    row's ``lease_owner`` tells whether this session holds it. Raises ``KeyError`` for an unknown id."""
    now = time.time()
    with transaction(con):
        con.execute("UPDATE rows SET lease_owner = NULL, lease_until = NULL, lease_reviewer = NULL "
                    "WHERE lease_owner = ? AND id != ?", (session, row_id))
        con.execute("UPDATE rows SET lease_owner = ?, lease_until = ?, lease_reviewer = ? WHERE id = ? AND "
                    "(lease_owner IS NULL OR lease_until < ? OR lease_owner = ?)",
                    (session, now + lease_s, reviewer, row_id, now, session))
    return get_row(con, row_id)


def renew_lease(con: sqlite3.Connection, row_id: str, session: str, reviewer: str, lease_s: float) -> str | None:
    """Heartbeat: extend this session's lease on the row (or take it back if it lapsed and nobody took
    it). Returns None on success, else the name of the reviewer whose session holds the row now."""
    now = time.time()
    with transaction(con):
        n = con.execute("UPDATE rows SET lease_owner = ?, lease_until = ?, lease_reviewer = ? WHERE id = ? AND "
                        "(lease_owner IS NULL OR lease_until < ? OR lease_owner = ?)",
                        (session, now + lease_s, reviewer, row_id, now, session)).rowcount
        if n:
            return None
        r = con.execute("SELECT lease_reviewer FROM rows WHERE id = ?", (row_id,)).fetchone()
    return (r["lease_reviewer"] or "another reviewer") if r else "nobody (the row is gone)"


def release(con: sqlite3.Connection, session: str) -> None:
    """Drop every lease this session holds (a filter change, a sign-out)."""
    with transaction(con):
        con.execute("UPDATE rows SET lease_owner = NULL, lease_until = NULL, lease_reviewer = NULL "
                    "WHERE lease_owner = ?", (session,))


def release_sessions(con: sqlite3.Connection, sessions: list[str]) -> int:
    """Drop every lease of these sessions (their browser tabs closed or reloaded) and forget their
    skips; returns how many rows were freed."""
    if not sessions:
        return 0
    marks = ",".join("?" * len(sessions))
    with transaction(con):
        n = con.execute("UPDATE rows SET lease_owner = NULL, lease_until = NULL, lease_reviewer = NULL "
                        f"WHERE lease_owner IN ({marks})", sessions).rowcount
        con.execute(f"DELETE FROM skipped WHERE session IN ({marks})", sessions)
    return n


def skip(con: sqlite3.Connection, row_id: str, session: str) -> None:
    """Skip a row for the rest of this session's pass: it is released and not offered again until every
    other matching row has been seen. A skip is not a decision: it changes nothing on the row."""
    with transaction(con):
        con.execute("INSERT OR IGNORE INTO skipped VALUES (?, ?)", (session, row_id))
        con.execute("UPDATE rows SET lease_owner = NULL, lease_until = NULL, lease_reviewer = NULL "
                    "WHERE id = ? AND lease_owner = ?", (row_id, session))


def reasons_in_store(con: sqlite3.Connection) -> list[str]:
    """Every reason code present in the store, sorted (for the reason filter)."""
    codes = set()
    for (r,) in con.execute("SELECT DISTINCT reasons FROM rows"):
        codes.update(c for c in r.split("\x1f") if c)
    return sorted(codes)
