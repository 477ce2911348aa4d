"""Queue, selection and decisions: plain functions over the store. They never import streamlit.

Statuses: ``pending`` -> ``accepted`` | ``rejected`` | ``fixed``; a double-review row waits in
``second_review`` for a different reviewer, and lands in ``disputed`` when the two disagree.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field

from curate.formats import RowError, to_messages
from review_app.store import ConflictError, get_row, row_dict, transaction
from schemas.checks import check_messages
from schemas.records import Message

LEASE_SECONDS = 300.0
FINAL = {"accept": "accepted", "reject": "rejected", "fix": "fixed"}


@dataclass
class Filters:
    verdicts: list[str] = field(default_factory=lambda: ["review"])
    statuses: list[str] = field(default_factory=lambda: ["pending", "second_review"])
    reason: str | None = None
    lang: str | None = None
    quality_min: float = 0.0
    quality_max: float = 1.0
    dup_cluster: str | None = None
    search: str | None = None

    def where(self) -> tuple[str, list]:
        clauses, args = ["quality BETWEEN ? AND ?"], [self.quality_min, self.quality_max]
        for col, values in (("verdict", self.verdicts), ("status", self.statuses)):
            if values:
                clauses.append(f"{col} IN ({','.join('?' * len(values))})")
                args += values
        if self.reason:
            clauses.append("instr(reasons, ?) > 0")
            args.append(self.reason)
        if self.lang:
            clauses.append("lang = ?")
            args.append(self.lang)
        if self.dup_cluster:
            clauses.append("dup_cluster = ?")
            args.append(self.dup_cluster)
        if self.search:
            clauses.append("(instr(lower(prompt), lower(?)) > 0 OR instr(lower(messages), lower(?)) > 0)")
            args += [self.search, self.search]
        return " AND ".join(clauses), args


def count(con: sqlite3.Connection, filters: Filters) -> int:
    where, args = filters.where()
    return con.execute(f"SELECT COUNT(*) FROM rows WHERE {where}", args).fetchone()[0]


def list_rows(con: sqlite3.Connection, filters: Filters, limit: int = 50, offset: int = 0) -> list[dict]:
    """Rows matching ``filters``, worst quality first."""
    where, args = filters.where()
    sql = f"SELECT * FROM rows WHERE {where} ORDER BY quality, row_idx LIMIT ? OFFSET ?"
    return [row_dict(r) for r in con.execute(sql, [*args, limit, offset])]


def claim_next(con: sqlite3.Connection, reviewer: str, filters: Filters, after_quality: float | None = None,
               lease_s: float = LEASE_SECONDS) -> dict | None:
    """Lease the next row for ``reviewer``: one nobody else holds (or whose lease expired), and for a
    second review one this reviewer did not decide. Two reviewers never get the same row at once."""
    where, args = filters.where()
    now = time.time()
    with transaction(con):
        con.execute("UPDATE rows SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", (reviewer,))
        r = con.execute(
            f"SELECT * FROM rows WHERE {where} AND (lease_owner IS NULL OR lease_until < ?) "
            "AND NOT (status = 'second_review' AND id IN (SELECT row_id FROM decisions WHERE reviewer = ? AND undone = 0)) "
            + ("AND quality >= ? " if after_quality is not None else "")
            + "ORDER BY quality, row_idx LIMIT 1",
            [*args, now, reviewer] + ([after_quality] if after_quality is not None else [])).fetchone()
        if r is None:
            return None
        con.execute("UPDATE rows SET lease_owner = ?, lease_until = ? WHERE id = ?", (reviewer, now + lease_s, r["id"]))
    return get_row(con, r["id"])


def validate_fix(messages: list[dict]) -> list[dict]:
    """Validate edited messages with the schema; raises ``ValueError`` naming the problem."""
    clean = [Message(**m).model_dump() for m in messages]
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


def decide(con: sqlite3.Connection, row_id: str, reviewer: str, action: str, version: int,
           reason: str | None = None, note: str | None = None, fixed: list[dict] | None = None,
           fixed_metadata: dict | None = None) -> dict:
    """Record ``action`` (accept, reject, fix, skip, note) on a row loaded at ``version``.

    Raises :class:`ConflictError` when someone changed the row since (nothing is overwritten) and
    ``ValueError`` for an invalid fix or a reject without a reason."""
    if not reviewer.strip():
        raise ValueError("a reviewer name is required")
    if action == "reject" and not (reason or "").strip():
        raise ValueError("a rejection needs a reason")
    if action == "fix":
        fixed = validate_fix(fixed or [])
    with transaction(con):
        row = row_dict(con.execute("SELECT * FROM rows WHERE id = ?", (row_id,)).fetchone())
        if row["version"] != version:
            raise ConflictError(f"row {row_id} changed since you opened it (version {version} -> {row['version']}); "
                                "reload it to see the other decision")
        before = json.dumps(row["fixed_messages"] or row["messages"], ensure_ascii=False) if action == "fix" else None
        after = json.dumps(fixed, ensure_ascii=False) if action == "fix" else None
        status = row["status"]
        if action in FINAL:
            status = _next_status(con, row, reviewer, action)
        con.execute("INSERT INTO decisions (row_id, reviewer, at, action, reason, note, before, after, version) "
                    "VALUES (?,?,?,?,?,?,?,?,?)", (row_id, reviewer, time.time(), action, reason, note, before, after,
                                                   row["version"] + 1))
        sets = "status = ?, version = version + 1, lease_owner = NULL, lease_until = NULL"
        args: list = [status]
        if action == "fix":
            sets += ", fixed_messages = ?, fixed_metadata = ?"
            args += [after, json.dumps(fixed_metadata, ensure_ascii=False) if fixed_metadata else None]
        con.execute(f"UPDATE rows SET {sets} WHERE id = ?", [*args, row_id])
    return get_row(con, row_id)


def _next_status(con: sqlite3.Connection, row: dict, reviewer: str, action: str) -> str:
    if not row["double_review"]:
        return FINAL[action]
    firsts = [d for d in con.execute("SELECT reviewer, action FROM decisions WHERE row_id = ? AND undone = 0 "
                                     "AND action IN ('accept','reject','fix')", (row["id"],))]
    others = [d for d in firsts if d["reviewer"] != reviewer]
    if not others:
        return "second_review"
    agree = _label(others[-1]["action"]) == _label(action)
    return FINAL[action] if agree else "disputed"


def _label(action: str) -> str:
    return "reject" if action == "reject" else "accept"  # a fix approves the row


def undo_last(con: sqlite3.Connection, reviewer: str) -> dict | None:
    """Undo ``reviewer``'s latest decision that is not undone yet: the row gets its previous status and
    text back, the decision is marked undone (never deleted). Returns the row, or None."""
    with transaction(con):
        d = con.execute("SELECT * FROM decisions WHERE reviewer = ? AND undone = 0 AND action != 'note' "
                        "ORDER BY seq DESC LIMIT 1", (reviewer,)).fetchone()
        if d is None:
            return None
        con.execute("UPDATE decisions SET undone = 1 WHERE seq = ?", (d["seq"],))
        prev = con.execute("SELECT * FROM decisions WHERE row_id = ? AND undone = 0 AND action IN "
                           "('accept','reject','fix') ORDER BY seq DESC LIMIT 1", (d["row_id"],)).fetchone()
        status = "pending" if prev is None else ("second_review" if _is_first_of_double(con, d["row_id"]) else FINAL[prev["action"]])
        fixed = con.execute("SELECT after FROM decisions WHERE row_id = ? AND undone = 0 AND action = 'fix' "
                            "ORDER BY seq DESC LIMIT 1", (d["row_id"],)).fetchone()
        con.execute("UPDATE rows SET status = ?, fixed_messages = ?, version = version + 1 WHERE id = ?",
                    (status, fixed["after"] if fixed else None, d["row_id"]))
    return get_row(con, d["row_id"])


def _is_first_of_double(con: sqlite3.Connection, row_id: str) -> bool:
    row = con.execute("SELECT double_review FROM rows WHERE id = ?", (row_id,)).fetchone()
    n = con.execute("SELECT COUNT(DISTINCT reviewer) FROM decisions WHERE row_id = ? AND undone = 0 "
                    "AND action IN ('accept','reject','fix')", (row_id,)).fetchone()[0]
    return bool(row["double_review"]) and n == 1


def bulk(con: sqlite3.Connection, reviewer: str, filters: Filters, action: str, reason: str | None = None) -> int:
    """Apply accept or reject to every row of the current filter; returns how many rows changed."""
    if action not in ("accept", "reject"):
        raise ValueError("bulk actions are accept and reject")
    done = 0
    for row in list_rows(con, filters, limit=1_000_000):
        decide(con, row["id"], reviewer, action, row["version"], reason=reason or None)
        done += 1
    return done


def progress(con: sqlite3.Connection) -> dict:
    """Counts by status, decisions and throughput per reviewer, and agreement on double-reviewed rows."""
    by_status = dict(con.execute("SELECT status, COUNT(*) FROM rows WHERE verdict = 'review' GROUP BY status").fetchall())
    people = {r["reviewer"]: {"decisions": r["n"], "per_hour": r["n"] / max((r["last"] - r["first"]) / 3600, 1 / 60)}
              for r in con.execute("SELECT reviewer, COUNT(*) n, MIN(at) first, MAX(at) last FROM decisions "
                                   "WHERE undone = 0 GROUP BY reviewer")}
    return {"by_status": by_status, "reviewers": people, "left": by_status.get("pending", 0)
            + by_status.get("second_review", 0), "kappa": agreement(con)}


def agreement(con: sqlite3.Connection) -> float | None:
    """Cohen's kappa between the first two reviewers of each double-reviewed row (accept vs reject)."""
    pairs: dict[str, list[str]] = {}
    for r in con.execute("SELECT d.row_id, d.reviewer, d.action FROM decisions d JOIN rows r ON r.id = d.row_id "
                         "WHERE r.double_review = 1 AND d.undone = 0 AND d.action IN ('accept','reject','fix') "
                         "ORDER BY d.seq"):
        labels = pairs.setdefault(r["row_id"], [])
        if len(labels) < 2:
            labels.append(_label(r["action"]))
    both = [p for p in pairs.values() if len(p) == 2]
    if not both:
        return None
    n = len(both)
    po = sum(a == b for a, b in both) / n
    pa = sum(a == "accept" for a, _ in both) / n
    pb = sum(b == "accept" for _, b in both) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return 1.0 if pe == 1 else (po - pe) / (1 - pe)
