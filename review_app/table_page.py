"""The Table page: the current filter's rows as a table, a checkbox per row, and accept or reject of the
picked rows as one bulk action, with its feedback and its own undo. It only renders and wires widgets;
the bulk action is :func:`review_app.bulk.bulk_picked`.

The table is keyed by the ids and versions it shows, so a page whose rows changed is a new table with no
ticks: a tick can never carry over to another row. The button passes the picks drawn with it."""

from __future__ import annotations

import hashlib
import time

import streamlit as st

from review_app import formats as fmt
from review_app import queue
from review_app.actions import REJECT_REASONS
from review_app.bulk import Pick, bulk_history, bulk_picked, summary, undo_bulk
from review_app.errors import ReviewError

PAGE_SIZES = (25, 50, 100)  # the grid stays readable and a page renders in well under a second
ss = st.session_state


def table_lines(rows: list[dict]) -> list[dict]:
    """One line per row for the grid: plain values (the grid shows them as text, never markdown)."""
    return [{"pick": False, "source": r["source"], "status": r["status"], "verdict": r["verdict"],
             "quality": round(r["quality"], 2), "language": r["lang"] or "?", "reasons": ", ".join(r["reasons"]),
             "prompt": r["prompt"][:160], "version": r["version"],
             "open by": (r["lease_reviewer"] or "") if (r["lease_until"] or 0) >= time.time() else ""}
            for r in rows]


def picks_from(rows: list[dict], edited_rows: dict, all_picked: bool) -> list[Pick]:
    """The rows ticked in the grid: ``edited_rows`` is the grid's own record of edits ({position: {column:
    value}}); a row nobody edited is picked when "pick every row" is on."""
    return [Pick(r["id"], r["version"]) for i, r in enumerate(rows)
            if edited_rows.get(i, edited_rows.get(str(i), {})).get("pick", all_picked)]


def table_key(rows: list[dict], all_picked: bool) -> str:
    shown = "|".join(f"{r['id']}:{r['version']}" for r in rows) + f"|{all_picked}"
    return "table-" + hashlib.sha256(shown.encode()).hexdigest()[:16]


def on_bulk_picked(picks: tuple[Pick, ...], kind: str) -> None:
    reason = None
    if kind == "reject":
        reason = ss.get("table_reason", REJECT_REASONS[0])
        reason = ss.get("table_reason_typed", "").strip() if reason.startswith("other") else reason
    try:
        res = bulk_picked(ss["con"], ss["session"], ss["who"], list(picks), kind, reason)
    except (ReviewError, ValueError) as exc:
        ss["flash"] = ("error", "not applied:", str(exc))
        return
    ss["flash"] = ("success" if res.done else "warning", summary(res, kind))


def on_undo_bulk(batch: str) -> None:
    try:
        res = undo_bulk(ss["con"], batch, ss["session"], ss["who"])
    except ReviewError as exc:  # a conflict too: nothing was undone
        ss["flash"] = ("error", "not undone:", str(exc))
        return
    ss["flash"] = ("info", f"undid that bulk action: {fmt.rows(len(res.rows))} as they were before it")


def bulk_log(con) -> None:
    """The reviewer's latest bulk actions, each with its own undo (or who undid it)."""
    recs = bulk_history(con, ss["who"])
    if not recs:
        return
    st.subheader("Your latest bulk actions")
    for rec in recs:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(rec.at))
        line = (f"{when} · {rec.action} {rec.done:,} of {fmt.rows(rec.picked)} ({rec.scope})"
                + (f" · reason: {rec.reason}" if rec.reason else ""))
        left, right = st.columns([4, 1])
        left.text(line)
        if rec.undone_at is None:
            right.button("Undo this bulk action", key=f"undo_bulk-{rec.batch}", on_click=on_undo_bulk, args=(rec.batch,))
        else:
            right.text(f"undone by {rec.undone_by}")


def table_page(con, flt: queue.Filters) -> None:
    n = queue.count(con, flt)
    st.subheader("Table")
    size = st.sidebar.selectbox("Rows per table page", PAGE_SIZES, index=1, key="table_size")
    pages = max(1, -(-n // size))
    page = st.number_input(f"Page (of {pages:,})", 1, pages, 1, key="table_page")
    rows = queue.list_rows(con, flt, limit=size, offset=(page - 1) * size)
    st.text(f"rows {(page - 1) * size + 1 if rows else 0:,}-{(page - 1) * size + len(rows):,} of {n:,} "
            "in this filter, worst quality first")
    all_picked = st.checkbox("Pick every row on this page", key=f"pick_all-{table_key(rows, False)}")
    key = table_key(rows, all_picked)
    lines = table_lines(rows)
    for line in lines:
        line["pick"] = all_picked
    st.data_editor(lines, key=key, hide_index=True, disabled=[c for c in (lines[0] if lines else {}) if c != "pick"],
                   column_config={"pick": st.column_config.CheckboxColumn("pick", help="tick the rows to act on")})
    picks = tuple(picks_from(rows, ss.get(key, {}).get("edited_rows", {}), all_picked))
    c = st.columns([1, 2, 2])
    kind = c[0].radio("Bulk action", ["accept", "reject"], key="table_action", horizontal=True)
    reason = c[1].selectbox("Reason (for reject)", REJECT_REASONS, key="table_reason")
    if reason.startswith("other"):
        c[1].text_input("Reason (typed)", key="table_reason_typed")
    c[2].button(f"{kind.capitalize()} {fmt.rows(len(picks)).replace(' ', ' picked ', 1)}", key="table_apply", type="primary",
                disabled=not picks, on_click=on_bulk_picked, args=(picks, kind))
    bulk_log(con)
