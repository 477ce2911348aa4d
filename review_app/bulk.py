"""Bulk actions: accept or reject many rows at once, as one unit that one undo takes back exactly. Plain
functions over the store; they never import streamlit.

Two scopes. ``picked``: the rows a reviewer ticked in the table view, each with the version the table
showed; a row changed since is left alone and counted as a version conflict (the lesson of the review
trust issue: an action names what the user saw). ``filter``: every row the current filter matches, as
the store holds them now (the reviewer confirmed the count, not each row).

Every decision of a bulk action carries its ``batch`` id and the row's fields before it, like any other
decision; ``bulk_actions`` keeps one record of the unit (who, when, what, the counts, who undid it).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass

from review_app.decisions import Action, UndoResult, apply_action, check_action, row_problems, undo_unit
from review_app.errors import ReviewError
from review_app.formats import rows
from review_app.queue import Filters
from review_app.store import get_row, row_dict, transaction

KINDS = ("accept", "reject")


@dataclass(frozen=True)
class Pick:
    """A row as the table showed it: its id and version."""

    row_id: str
    version: int


@dataclass
class BulkResult:
    batch: str
    picked: int = 0  # rows asked for
    done: int = 0  # rows changed
    conflicts: int = 0  # changed (or gone) since the table showed them: left alone
    held: int = 0  # open in another reviewer's session: left alone
    invalid: int = 0  # not a valid conversation, so not accepted unfixed: left alone


@dataclass(frozen=True)
class BulkRecord:
    """One bulk action as ``bulk_actions`` keeps it."""

    batch: str
    reviewer: str
    at: float
    action: str
    reason: str | None
    scope: str
    picked: int
    done: int
    conflicts: int
    held: int
    invalid: int
    undone_at: float | None
    undone_by: str | None


def _start(session: str, reviewer: str, kind: str, reason: str | None) -> None:
    if kind not in KINDS:
        raise ValueError(f"bulk actions are {' and '.join(KINDS)}, not {kind!r}")
    check_action(Action("", 0, session, reviewer, kind, reason=reason))


def _one(con: sqlite3.Connection, res: BulkResult, row: dict, session: str, reviewer: str, kind: str,
         reason: str | None, now: float) -> None:
    """Apply the bulk action to one current row, or count why it is left alone."""
    if row["lease_owner"] not in (None, session) and (row["lease_until"] or 0) >= now:
        res.held += 1
    elif kind == "accept" and row_problems(row):
        res.invalid += 1
    else:
        apply_action(con, Action(row["id"], row["version"], session, reviewer, kind, reason=reason), row, None,
                     res.batch, now)
        res.done += 1


def _record(con: sqlite3.Connection, res: BulkResult, session: str, reviewer: str, kind: str, reason: str | None,
            scope: str, now: float) -> None:
    if res.done:  # nothing changed: nothing to undo, nothing to record
        con.execute("INSERT INTO bulk_actions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,NULL,NULL)",
                    (res.batch, reviewer, session, now, kind, reason, scope, res.picked, res.done, res.conflicts,
                     res.held, res.invalid))


def bulk_picked(con: sqlite3.Connection, session: str, reviewer: str, picks: list[Pick], kind: str,
                reason: str | None = None) -> BulkResult:
    """Accept or reject the picked rows in one transaction, each only at the version the table showed.
    Rows changed since (or gone), rows open in another session and, for accept, invalid rows are left
    alone and counted. Raises ``ValueError`` for an unknown kind, a reject without a reason or no reviewer."""
    _start(session, reviewer, kind, reason)
    unique = list({p.row_id: p for p in picks}.values())
    res, now = BulkResult(uuid.uuid4().hex, picked=len(unique)), time.time()
    with transaction(con):
        for p in unique:
            r = con.execute("SELECT * FROM rows WHERE id = ?", (p.row_id,)).fetchone()
            if r is None or r["version"] != p.version:
                res.conflicts += 1
                continue
            _one(con, res, row_dict(r), session, reviewer, kind, reason, now)
        _record(con, res, session, reviewer, kind, reason, "picked", now)
    return res


def bulk_filter(con: sqlite3.Connection, session: str, reviewer: str, filters: Filters, kind: str,
                reason: str | None = None) -> BulkResult:
    """Accept or reject every row ``filters`` matches, in one transaction. Rows another session holds and
    (for accept) invalid rows are left alone and counted. Raises ``ValueError`` as :func:`bulk_picked`."""
    _start(session, reviewer, kind, reason)
    res, now = BulkResult(uuid.uuid4().hex), time.time()
    where, args = filters.where()
    with transaction(con):
        for r in con.execute(f"SELECT * FROM rows WHERE {where} ORDER BY quality, row_idx", args).fetchall():
            res.picked += 1
            _one(con, res, row_dict(r), session, reviewer, kind, reason, now)
        _record(con, res, session, reviewer, kind, reason, "filter", now)
    return res


def undo_bulk(con: sqlite3.Connection, batch: str, session: str, reviewer: str) -> UndoResult:
    """Undo exactly the bulk action ``batch``: every row it changed gets its fields from before it, all
    or none; its decisions are marked undone (never deleted), one ``undo`` entry per row is added and
    the bulk record says who undid it when.

    Raises :class:`ReviewError` for an unknown batch, one already undone or another reviewer's, and
    :class:`review_app.errors.ConflictError` (nothing undone) when a row changed after it."""
    with transaction(con):
        rec = con.execute("SELECT * FROM bulk_actions WHERE batch = ?", (batch,)).fetchone()
        if rec is None:
            raise ReviewError("no such bulk action in this store")
        if rec["undone_at"] is not None:
            raise ReviewError(f"this bulk action was already undone by {rec['undone_by']}")
        if rec["reviewer"] != reviewer:
            raise ReviewError(f"this bulk action is {rec['reviewer']}'s: only they can undo it")
        unit = con.execute("SELECT * FROM decisions WHERE batch = ? AND undone = 0 AND retired = 0 AND action IN "
                           "('accept', 'reject') ORDER BY seq DESC", (batch,)).fetchall()
        restored = undo_unit(con, unit, session, reviewer, time.time())
    return UndoResult([get_row(con, i) for i in restored], True)


def bulk_history(con: sqlite3.Connection, reviewer: str, limit: int = 5) -> list[BulkRecord]:
    """``reviewer``'s latest bulk actions, newest first."""
    found = con.execute("SELECT * FROM bulk_actions WHERE reviewer = ? ORDER BY at DESC LIMIT ?", (reviewer, limit))
    return [BulkRecord(**{k: r[k] for k in BulkRecord.__dataclass_fields__}) for r in found]


def summary(res: BulkResult, kind: str) -> str:
    """The feedback line: how many rows changed and why the others were left alone."""
    done = {"accept": "accepted", "reject": "rejected"}[kind]
    left = [f"{n:,} {why}" for n, why in ((res.conflicts, "changed since the table showed them (version conflict)"),
                                          (res.held, "open in another reviewer's session"),
                                          (res.invalid, "not valid conversations (fix or reject them)")) if n]
    line = f"{done} {res.done:,} of {rows(res.picked)}"
    return line + ("; left alone: " + ", ".join(left) if left else "")
