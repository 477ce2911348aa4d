"""Progress figures for the Progress page: plain functions over the store."""

from __future__ import annotations

import sqlite3

DECIDED = "('accept', 'reject', 'fix')"  # skips, notes, undos and carried-over outcomes are not decisions


def progress(con: sqlite3.Connection) -> dict:
    """Counts by status (review rows), disputes (of any verdict: a kept row decided twice can be one, and
    the Disputes page lists it), decisions and throughput per reviewer (undone ones left out), and
    agreement on double-reviewed rows."""
    by_status = dict(con.execute("SELECT status, COUNT(*) FROM rows WHERE verdict = 'review' GROUP BY status").fetchall())
    people = {}
    for r in con.execute(f"SELECT reviewer, COUNT(*) n, MIN(at) first, MAX(at) last FROM decisions WHERE undone = 0 "
                         f"AND retired = 0 AND action IN {DECIDED} GROUP BY reviewer ORDER BY reviewer"):
        hours = (r["last"] - r["first"]) / 3600
        people[r["reviewer"]] = {"decisions": r["n"], "per_hour": r["n"] / hours if r["n"] > 1 and hours > 0 else None}
    return {"by_status": by_status, "reviewers": people,
            "left": by_status.get("pending", 0) + by_status.get("second_review", 0),
            "disputed": con.execute("SELECT COUNT(*) FROM rows WHERE status = 'disputed'").fetchone()[0],
            "kappa": agreement(con)}


def agreement(con: sqlite3.Connection) -> float | None:
    """Cohen's kappa between the first two reviewers of each double-reviewed row (accept vs reject)."""
    pairs: dict[str, list[tuple[str, str]]] = {}
    for r in con.execute("SELECT d.row_id, d.reviewer, d.action FROM decisions d JOIN rows r ON r.id = d.row_id "
                         f"WHERE r.double_review = 1 AND d.undone = 0 AND d.retired = 0 AND d.action IN {DECIDED} "
                         "ORDER BY d.seq"):
        labels = pairs.setdefault(r["row_id"], [])
        if len(labels) < 2 and all(who != r["reviewer"] for who, _ in labels):
            labels.append((r["reviewer"], "reject" if r["action"] == "reject" else "accept"))
    both = [(a[1], b[1]) for a, b in (p for p in pairs.values() if len(p) == 2)]
    if not both:
        return None
    n = len(both)
    po = sum(a == b for a, b in both) / n
    pa = sum(a == "accept" for a, _ in both) / n
    pb = sum(b == "accept" for _, b in both) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return 1.0 if pe == 1 else (po - pe) / (1 - pe)
