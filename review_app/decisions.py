"""Decisions and their exact undo: plain functions over the store; they never import streamlit.

Every decision names the row and the version the screen showed (:class:`Action`). The store applies
it to that row only and only at that version, and only while no other live session holds the row;
otherwise it raises :class:`ConflictError` with the row as it is now and what changed it, and writes
nothing. Each decision records the row's fields before it, so an undo restores them exactly.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from curate.formats import RowError, to_messages
from review_app.errors import ConflictError, InvalidRowError, ReviewError
from review_app.store import changes_since, get_row, row_dict, shown_messages, transaction
from schemas.checks import check_messages
from schemas.records import Message

FINAL = {"accept": "accepted", "reject": "rejected", "fix": "fixed"}
DECISIONS = tuple(FINAL)  # what an undo can take back; skips and notes are not decisions


@dataclass(frozen=True)
class Action:
    """What a reviewer did, and on what they saw: the row id and version shown on screen."""

    row_id: str
    version: int
    session: str
    reviewer: str
    kind: str  # accept | reject | fix | note
    reason: str | None = None
    note: str | None = None
    fixed: list[dict] | None = None
    fixed_metadata: dict | None = None


def row_problems(row: dict) -> list[str]:
    """Structure codes of the conversation as it stands (empty: it can be accepted)."""
    return check_messages(shown_messages(row))


def validate_fix(messages: list[dict]) -> list[dict]:
    """Validate edited messages with the schema; raises ``ValueError`` naming the problem."""
    try:
        clean = [Message(**m).model_dump() for m in messages]
    except Exception as exc:  # pydantic's message names the bad role or field
        raise ValueError(f"the edited conversation is not valid: {exc.__class__.__name__}: "
                         f"{str(exc).splitlines()[-1] if str(exc) else ''}") from exc
    codes = check_messages(clean)
    if codes:
        raise ValueError("the edited conversation is not valid: " + ", ".join(codes))
    return clean


def alpaca_fix(fields: dict[str, str]) -> list[dict]:
    """Messages for edited Alpaca fields (instruction, input, output), validated."""
    try:
        return validate_fix(to_messages(fields, "alpaca"))
    except RowError as exc:
        raise ValueError(str(exc)) from exc


def check_action(act: Action) -> list[dict] | None:
    """The fix's validated messages (None for other kinds); raises ``ValueError`` for an action that
    cannot be saved whatever the row (no reviewer, unknown kind, a reject without a reason, a bad fix)."""
    if not act.reviewer.strip():
        raise ValueError("a reviewer name is required")
    if act.kind not in (*DECISIONS, "note"):
        raise ValueError(f"unknown action {act.kind!r}")
    if act.kind == "reject" and not (act.reason or "").strip():
        raise ValueError("a rejection needs a reason")
    return validate_fix(act.fixed or []) if act.kind == "fix" else None


def _stale(con: sqlite3.Connection, act: Action, row: dict | None, now: float) -> None:
    """Raise :class:`ConflictError` unless ``row`` is at the version the screen showed and no other
    live session holds it."""
    if row is None:
        raise ConflictError(f"row {act.row_id} is not in this store (it was re-imported?); nothing was saved")
    if row["version"] != act.version:
        changes = changes_since(con, act.row_id, act.version)
        who = ", ".join(sorted({c["reviewer"] for c in changes})) or "another reviewer"
        raise ConflictError(f"{who} changed this row since your screen showed it (version {act.version} -> "
                            f"{row['version']}); nothing of yours was saved", row, changes)
    if row["lease_owner"] not in (None, act.session) and (row["lease_until"] or 0) >= now:
        raise ConflictError(f"{row['lease_reviewer'] or 'another reviewer'} has this row open now (your hold on "
                            "it lapsed); nothing of yours was saved", row, [])


def apply_action(con: sqlite3.Connection, act: Action, row: dict, fixed: list[dict] | None, batch: str | None,
                 now: float) -> None:
    """Record ``act`` on ``row`` (already checked to be current) inside the caller's transaction, with the
    row's fields before it for an exact undo; ``batch`` names the bulk action it belongs to.

    Raises :class:`InvalidRowError` when accepting a row that is not a valid conversation."""
    if act.kind == "accept" and row_problems(row):
        raise InvalidRowError(f"row {row['source']} cannot be accepted as it is ({', '.join(row_problems(row))}): "
                              "fix it or reject it")
    prev = {"status": row["status"], "fixed_messages": row["fixed_messages"],
            "fixed_metadata": json.loads(row["fixed_metadata"]) if row["fixed_metadata"] else None}
    new = dict(prev)
    if act.kind in FINAL:
        new["status"] = _next_status(con, row, act.reviewer, act.kind)
    if act.kind == "fix":
        new["fixed_messages"], new["fixed_metadata"] = fixed, act.fixed_metadata
    bump = 0 if act.kind == "note" else 1
    before = json.dumps(shown_messages(row), ensure_ascii=False) if act.kind == "fix" else None
    after = json.dumps(fixed, ensure_ascii=False) if act.kind == "fix" else None
    con.execute("INSERT INTO decisions (row_id, reviewer, at, action, reason, note, before, after, version, session, "
                "batch, prev) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (row["id"], act.reviewer, now, act.kind, act.reason, act.note, before, after, row["version"] + bump,
                 act.session, batch, json.dumps(prev, ensure_ascii=False)))
    if bump:
        _write_fields(con, row["id"], new, release=act.session)


def _write_fields(con: sqlite3.Connection, row_id: str, fields: dict, release: str | None) -> None:
    con.execute("UPDATE rows SET status = ?, fixed_messages = ?, fixed_metadata = ?, version = version + 1 "
                "WHERE id = ?", (fields["status"],
                                 json.dumps(fields["fixed_messages"], ensure_ascii=False) if fields["fixed_messages"] else None,
                                 json.dumps(fields["fixed_metadata"], ensure_ascii=False) if fields["fixed_metadata"] else None,
                                 row_id))
    if release:  # a decided row goes back to the pool (for a second reviewer, say)
        con.execute("UPDATE rows SET lease_owner = NULL, lease_until = NULL, lease_reviewer = NULL "
                    "WHERE id = ? AND lease_owner = ?", (row_id, release))


def decide(con: sqlite3.Connection, act: Action) -> dict:
    """Apply ``act`` to its row at its version; returns the row after it.

    Raises :class:`ConflictError` (row changed or held by another session; nothing written),
    :class:`InvalidRowError` (accepting an invalid row unfixed) and ``ValueError`` (invalid fix, a reject
    without a reason, no reviewer name)."""
    fixed = check_action(act)
    now = time.time()
    with transaction(con):
        r = con.execute("SELECT * FROM rows WHERE id = ?", (act.row_id,)).fetchone()
        row = row_dict(r) if r else None
        _stale(con, act, row, now)
        apply_action(con, act, row, fixed, None, now)
    return get_row(con, act.row_id)


def _next_status(con: sqlite3.Connection, row: dict, reviewer: str, kind: str) -> str:
    if row["status"] == "disputed" or not row["double_review"]:
        return FINAL[kind]  # an adjudicator's decision is final, in either direction
    others = con.execute("SELECT action FROM decisions WHERE row_id = ? AND undone = 0 AND retired = 0 AND "
                         "action IN ('accept','reject','fix') AND reviewer != ? ORDER BY seq DESC LIMIT 1",
                         (row["id"], reviewer)).fetchone()
    if others is None:
        return "second_review"
    return FINAL[kind] if _label(others["action"]) == _label(kind) else "disputed"


def _label(action: str) -> str:
    return "reject" if action == "reject" else "accept"  # a fix approves the row


@dataclass
class UndoResult:
    rows: list[dict]  # the rows as restored
    bulk: bool


def undo_last(con: sqlite3.Connection, session: str, reviewer: str) -> UndoResult | None:
    """Undo ``reviewer``'s latest decision not undone yet (a bulk action as one unit): every field the
    decision changed gets its value from before it, the decision is marked undone (never deleted) and
    an ``undo`` entry is added. Skips and notes are not decisions and are passed over. Returns None when
    there is nothing to undo.

    Raises :class:`ConflictError` when someone changed a row since (nothing is undone then) and
    :class:`ReviewError` for a decision made by the first release (it did not record what it replaced)."""
    now = time.time()
    with transaction(con):
        d = con.execute("SELECT * FROM decisions WHERE reviewer = ? AND undone = 0 AND retired = 0 AND action IN "
                        "('accept','reject','fix') ORDER BY seq DESC LIMIT 1", (reviewer,)).fetchone()
        if d is None:
            return None
        unit = (con.execute("SELECT * FROM decisions WHERE batch = ? AND undone = 0 AND action IN "
                            "('accept','reject','fix') ORDER BY seq DESC",
                            (d["batch"],)).fetchall() if d["batch"] else [d])
        restored = undo_unit(con, unit, session, reviewer, now)
    return UndoResult([get_row(con, i) for i in restored], bool(d["batch"]))


def undo_unit(con: sqlite3.Connection, unit: list[sqlite3.Row], session: str, reviewer: str, now: float) -> list[str]:
    """Undo these decisions (one decision, or every decision of one bulk action) inside the caller's
    transaction, all or none; returns the ids of the rows restored. A bulk action's record is marked undone.

    Raises :class:`ConflictError` when a row changed since its decision and :class:`ReviewError` for a
    decision of the first release; the caller's transaction then rolls everything back."""
    restored = []
    for dec in unit:
        row = get_row(con, dec["row_id"])
        if dec["prev"] is None:
            raise ReviewError("your last decision was made by the first release of Sieve, which did not record "
                              "what it replaced; it cannot be undone exactly")
        if row["version"] != dec["version"]:
            changes = changes_since(con, row["id"], dec["version"])
            who = ", ".join(sorted({c["reviewer"] for c in changes})) or "another reviewer"
            raise ConflictError(f"cannot undo: {who} changed row {row['source']} after your decision; "
                                "nothing was undone", row, changes)
        _write_fields(con, row["id"], json.loads(dec["prev"]), release=None)
        con.execute("UPDATE decisions SET undone = 1 WHERE seq = ?", (dec["seq"],))
        con.execute("INSERT INTO decisions (row_id, reviewer, at, action, note, version, session, batch) "
                    "VALUES (?, ?, ?, 'undo', ?, ?, ?, ?)",
                    (row["id"], reviewer, now, f"undid {dec['action']} #{dec['seq']}", row["version"] + 1,
                     session, dec["batch"]))
        restored.append(row["id"])
    batches = {dec["batch"] for dec in unit if dec["batch"]}
    con.executemany("UPDATE bulk_actions SET undone_at = ?, undone_by = ? WHERE batch = ?",
                    [(now, reviewer, b) for b in batches])
    return restored
