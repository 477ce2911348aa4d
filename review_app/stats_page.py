"""The Stats page: per-reviewer split, pairwise agreement and time per row (figures from
:mod:`review_app.stats`, formatted by :mod:`review_app.formats`). It only renders."""

from __future__ import annotations

import streamlit as st

from review_app import formats as fmt
from review_app.stats import IDLE_CAP_S, agreement, load_decided, reviewer_stats

ABOUT = (f"Decisions only: accept, fix, reject, not undone. Skips and notes are not decisions. Time per row: the "
         f"median gap between a reviewer's consecutive one-row decisions; a gap over {IDLE_CAP_S / 60:.0f} min "
         "is a break and left out, and bulk actions are not timed. Agreement: rows both reviewers decided "
         "(a fix counts as an accept), each reviewer's latest decision.")


def reviewer_table(con) -> tuple[list[dict], list[dict]]:
    """(one line per reviewer, one line per pair of reviewers), every figure a formatted string."""
    decided = load_decided(con)
    people = [{"reviewer": s.reviewer, "decisions": fmt.count(s.decisions), "accepted": fmt.count(s.accepted),
               "fixed": fmt.count(s.fixed), "rejected": fmt.count(s.rejected), "rejected share": fmt.share(s.reject_share),
               "time per row": fmt.duration(s.median_s), "timed gaps": fmt.count(s.timed), "breaks": fmt.count(s.breaks)}
              for s in reviewer_stats(decided)]
    pairs = [{"reviewers": f"{p.a} · {p.b}", "rows both decided": fmt.count(p.shared), "agreed": fmt.count(p.agreed),
              "agreement": fmt.share(p.share), "Cohen's kappa": fmt.kappa(p.kappa)}
             for p in agreement(decided)]
    return people, pairs


def stats_page(con) -> None:
    st.subheader("Reviewers")
    people, pairs = reviewer_table(con)
    st.caption(ABOUT)
    if not people:
        st.text("No decisions yet.")
        return
    st.table(people)
    st.subheader("Agreement between reviewers")
    if pairs:
        st.table(pairs)
    else:
        st.text("No row has been decided by two reviewers yet: agreement is n/a.")
