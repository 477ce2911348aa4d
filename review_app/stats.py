"""Per-reviewer figures for the Stats page: the accept/reject split, pairwise agreement on rows both
reviewers decided, and time per row. Plain functions; they never import streamlit.

What counts: live decisions only (accept, fix, reject; not undone, not of an earlier run). Skips and
notes are not decisions. A fix approves the row, so for agreement it counts as an accept.
"""

from __future__ import annotations

import sqlite3
import statistics
from dataclasses import dataclass
from itertools import combinations

# A gap longer than this between two of a reviewer's decisions is a break (lunch, a meeting, the tab left
# open overnight), not time spent on a row. Deciding a row takes seconds to a couple of minutes; 5 minutes
# keeps a long, careful row and drops the breaks that would otherwise dominate a day's figures.
IDLE_CAP_S = 300.0


@dataclass(frozen=True)
class Decided:
    """One live decision: who, on which row, when, what, and whether it came from a bulk action."""

    reviewer: str
    row_id: str
    at: float
    action: str  # accept | fix | reject
    bulk: bool = False


@dataclass(frozen=True)
class ReviewerStats:
    reviewer: str
    accepted: int
    fixed: int
    rejected: int
    reject_share: float | None  # rejected / decisions; None without decisions
    median_s: float | None  # median gap between consecutive one-row decisions, breaks left out
    timed: int  # gaps the median is over
    breaks: int  # gaps over the cap, left out

    @property
    def decisions(self) -> int:
        return self.accepted + self.fixed + self.rejected


@dataclass(frozen=True)
class Agreement:
    a: str
    b: str
    shared: int  # rows both decided
    agreed: int  # of them, rows where both accepted (or fixed) or both rejected
    kappa: float | None  # Cohen's kappa; None when undefined (one label only on both sides)

    @property
    def share(self) -> float | None:
        return self.agreed / self.shared if self.shared else None


def load_decided(con: sqlite3.Connection) -> list[Decided]:
    """Every live decision of the store, oldest first."""
    rows = con.execute("SELECT reviewer, row_id, at, action, batch IS NOT NULL FROM decisions WHERE undone = 0 "
                       "AND retired = 0 AND action IN ('accept', 'fix', 'reject') ORDER BY seq").fetchall()
    return [Decided(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]


def label(action: str) -> str:
    return "reject" if action == "reject" else "accept"  # a fix approves the row


def row_gaps(times: list[float], cap: float) -> tuple[list[float], int]:
    """(gaps between consecutive times at most ``cap`` long, how many longer gaps were left out)."""
    times = sorted(times)
    gaps = [b - a for a, b in zip(times, times[1:])]
    kept = [g for g in gaps if g <= cap]
    return kept, len(gaps) - len(kept)


def reviewer_stats(decided: list[Decided], cap: float = IDLE_CAP_S) -> list[ReviewerStats]:
    """One line per reviewer, by name. Time per row is timed on one-row decisions only: a bulk action
    decides many rows in one instant and would read as zero seconds a row."""
    by_reviewer: dict[str, list[Decided]] = {}
    for d in decided:
        by_reviewer.setdefault(d.reviewer, []).append(d)
    out = []
    for who, mine in sorted(by_reviewer.items()):
        n = {k: sum(d.action == k for d in mine) for k in ("accept", "fix", "reject")}
        gaps, breaks = row_gaps([d.at for d in mine if not d.bulk], cap)
        out.append(ReviewerStats(who, n["accept"], n["fix"], n["reject"], n["reject"] / len(mine),
                                 statistics.median(gaps) if gaps else None, len(gaps), breaks))
    return out


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters' accept/reject labels; None when there are no pairs or chance
    agreement is 1 (both gave one and the same label throughout: agreement beyond chance is undefined)."""
    if not pairs:
        return None
    n = len(pairs)
    po = sum(a == b for a, b in pairs) / n
    pa = sum(a == "accept" for a, _ in pairs) / n
    pb = sum(b == "accept" for _, b in pairs) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return None if pe == 1 else (po - pe) / (1 - pe)


def agreement(decided: list[Decided]) -> list[Agreement]:
    """For each pair of reviewers who both decided at least one same row: how many rows, how many they
    agreed on, and Cohen's kappa. Each reviewer's latest decision on a row is theirs."""
    by_row: dict[str, dict[str, str]] = {}
    for d in decided:  # oldest first: a later decision by the same reviewer replaces the earlier
        by_row.setdefault(d.row_id, {})[d.reviewer] = label(d.action)
    pairs: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for labels in by_row.values():
        for a, b in combinations(sorted(labels), 2):
            pairs.setdefault((a, b), []).append((labels[a], labels[b]))
    return [Agreement(a, b, len(p), sum(x == y for x, y in p), cohen_kappa(p)) for (a, b), p in sorted(pairs.items())]
