"""The app's action widgets and their callbacks. Every button passes the row id and version it was
drawn with (``on_click`` arguments, and a widget key that names both), so a click acts on the row the
screen showed, never on whatever row the server holds by the time the click arrives. The decision
itself is :func:`review_app.decisions.decide`; a conflict is kept in the session and shown with redo
or drop."""

from __future__ import annotations

import json
from dataclasses import replace

import streamlit as st

from review_app import queue
from review_app.decisions import Action, alpaca_fix, bulk, decide, row_problems, undo_last
from review_app.errors import ConflictError, ReviewError
from review_app.store import get_row, shown_messages
from review_app.view import change_lines

REJECT_REASONS = ["wrong or misleading answer", "low quality", "duplicate", "unsafe or personal data",
                  "not an instruction", "wrong language", "other (type it)"]
DONE = {"accept": "accepted", "reject": "rejected", "fix": "fixed", "note": "noted"}
ss = st.session_state


def _ctx():
    return ss["con"], ss["who"], ss["session"], ss["cfg"]


def show_row(row_id: str) -> None:
    """Keep this row on screen (pinned) until the reviewer acts or changes the filter or page."""
    con, who, session, cfg = _ctx()
    queue.open_row(con, row_id, session, who, cfg.lease_seconds)
    ss["row_id"], ss["pinned"] = row_id, True


def run_action(act: Action) -> None:
    con, who, _, _ = _ctx()
    try:
        decide(con, act)
    except ConflictError as exc:  # nothing was written: show theirs, offer redo or drop
        ss["conflict"] = {"act": act, "message": str(exc), "changes": change_lines(exc.changes)}
        if exc.current is not None:
            show_row(exc.current["id"])
        return
    except (ReviewError, ValueError) as exc:  # the row stays open, with what was typed
        ss["flash"] = ("error", "not saved:", str(exc))
        return
    ss["conflict"] = None
    ss["flash"] = ("success", f"{DONE[act.kind]} by {who}")
    if act.kind != "note":
        ss.setdefault("stack", []).append(act.row_id)
        ss["row_id"], ss["pinned"] = None, False


def on_decide(kind: str, row_id: str, version: int, **kw) -> None:
    _, who, session, _ = _ctx()
    run_action(Action(row_id, version, session, who, kind, **kw))


def on_reject(row_id: str, version: int) -> None:
    reason = ss.get("reject_reason", REJECT_REASONS[0])
    if reason.startswith("other"):
        reason = ss.get("reject_typed", "")
    on_decide("reject", row_id, version, reason=reason)


def on_note(row_id: str, version: int) -> None:
    note = ss.get(f"note_{row_id}", "").strip()
    if note:
        on_decide("note", row_id, version, note=note)


def on_fix(row_id: str, version: int, alpaca: bool, n: int, meta: dict) -> None:
    try:
        if alpaca:
            fields = {k: ss[f"fix_{k}_{row_id}_{version}"] for k in ("instruction", "input", "output")}
            fixed, fixed_meta = alpaca_fix(fields), {**meta, **fields}
        else:
            fixed = [{"role": ss[f"fix_r{i}_{row_id}_{version}"].strip(), "content": ss[f"fix_m{i}_{row_id}_{version}"]}
                     for i in range(n)]
            fixed_meta = None
    except ValueError as exc:
        ss["flash"] = ("error", "not saved:", str(exc))
        return
    on_decide("fix", row_id, version, fixed=fixed, fixed_metadata=fixed_meta)


def on_skip(row_id: str) -> None:
    con, _, session, _ = _ctx()
    queue.skip(con, row_id, session)
    ss["row_id"], ss["pinned"], ss["conflict"] = None, False, None
    ss["flash"] = ("info", "skipped; it comes back after every other row of this queue")


def on_undo() -> None:
    con, who, session, _ = _ctx()
    try:
        res = undo_last(con, session, who)
    except ReviewError as exc:
        ss["flash"] = ("error", "not undone:", str(exc))
        return
    if res is None:
        ss["flash"] = ("info", "nothing to undo")
    elif res.bulk:
        ss["flash"] = ("info", f"undid the bulk action on {len(res.rows)} rows")
        ss["row_id"], ss["pinned"] = None, False
    else:
        ss["flash"] = ("info", "undid your last decision; the row is shown as it was before it")
        show_row(res.rows[0]["id"])
    ss["conflict"] = None


def on_previous() -> None:
    stack = ss.get("stack", [])
    if stack:
        show_row(stack.pop())


def on_redo(version: int) -> None:
    act = ss["conflict"]["act"]
    run_action(replace(act, version=version))


def on_drop() -> None:
    ss["conflict"], ss["row_id"], ss["pinned"] = None, None, False
    ss["flash"] = ("info", "dropped your change; the other reviewer's stands")


def on_bulk(flt: queue.Filters) -> None:
    con, who, session, _ = _ctx()
    kind = ss.get("bulk_action", "accept")
    try:
        res = bulk(con, session, who, flt, kind, ss.get("bulk_reason") or None)
    except (ReviewError, ValueError) as exc:
        ss["flash"] = ("error", "not applied:", str(exc))
        return
    left = f" (left alone: {res.held} open elsewhere, {res.invalid} invalid)" if res.held or res.invalid else ""
    ss["flash"] = ("success", f"{DONE[kind]} {res.done} rows{left}; Undo last takes them all back")
    ss["row_id"], ss["pinned"], ss["bulk_sure"] = None, False, False


def conflict_panel(row: dict | None) -> None:
    """The other reviewer's change against the reviewer's own, with redo (on the version now shown) or drop."""
    c = ss.get("conflict")
    if not c:
        return
    act: Action = c["act"]
    with st.container(border=True):
        st.error("Not saved: this row changed since your screen showed it.")
        st.text(c["message"])
        st.text("Their change: " + ("; ".join(c["changes"]) or "(they have the row open)"))
        mine = f"Yours: {act.kind} {act.reason or ''}".rstrip()
        st.text(mine)
        if act.fixed:
            st.text("\n".join(f"[{m['role']}] {m['content']}" for m in act.fixed))
        left, right = st.columns(2)
        if row is not None and row["id"] == act.row_id:  # redo only on the row the screen now shows
            left.button("Redo mine on the row as shown below", key=f"conflict_redo-{act.row_id}-{row['version']}",
                        on_click=on_redo, args=(row["version"],))
        right.button("Drop mine", key="conflict_drop", on_click=on_drop)


def action_bar(row: dict) -> None:
    """Accept, Reject (with a reason), Skip, Undo, Previous: at the top of the row and kept in view."""
    rid, v = row["id"], row["version"]
    problems = row_problems(row)
    with st.container(key="actionbar"):
        c = st.columns([1, 2, 1, 1, 1, 1])
        c[0].button("Accept", key=f"accept-{rid}-{v}", type="primary", shortcut="a", disabled=bool(problems),
                    on_click=on_decide, args=("accept", rid, v))
        reason = c[1].selectbox("Reject reason", REJECT_REASONS, key="reject_reason", label_visibility="collapsed")
        c[2].button("Reject", key=f"reject-{rid}-{v}", shortcut="x", on_click=on_reject, args=(rid, v))
        c[3].button("Skip", key=f"skip-{rid}-{v}", shortcut="n", on_click=on_skip, args=(rid,))
        c[4].button("Undo last", key="undo", shortcut="u", on_click=on_undo)
        c[5].button("Previous", key="previous", shortcut="p", on_click=on_previous)
        if reason.startswith("other"):
            st.text_input("Reject reason (typed)", key="reject_typed")
    if problems:
        st.warning("Not a valid conversation: it cannot be accepted until it is fixed (or reject it).")
        st.text(", ".join(problems))


def fix_form(row: dict, blind: bool) -> None:
    # A form: edits do not rerun the app on every keystroke; "Save fix" submits them with the version shown.
    rid, v = row["id"], row["version"]
    msgs = row["messages"] if blind else shown_messages(row)
    meta = json.loads(row["fixed_metadata"] or row["metadata"]) if not blind else json.loads(row["metadata"])
    alpaca = (row["format"] == "alpaca" and [m["role"] for m in msgs] == ["user", "assistant"]
              and (not row["fixed_messages"] or row["fixed_metadata"] or blind))
    with st.expander("Fix in place", expanded=bool(row_problems(row))), st.form(key=f"fix_form_{rid}_{v}"):
        if alpaca:
            for k in ("instruction", "input", "output"):
                st.text_area(k, str(meta.get(k, "") or ""), key=f"fix_{k}_{rid}_{v}")
        else:
            for i, m in enumerate(msgs):
                st.text_input(f"message {i + 1}: role (system, user or assistant)", m["role"], key=f"fix_r{i}_{rid}_{v}")
                st.text_area(f"message {i + 1}: content", m["content"], key=f"fix_m{i}_{rid}_{v}")
        st.form_submit_button("Save fix", key=f"save_fix-{rid}-{v}", on_click=on_fix,
                              args=(rid, v, alpaca, len(msgs), meta))


def note_box(row: dict) -> None:
    st.text_input("Note", key=f"note_{row['id']}")
    st.button("Save note", key=f"save_note-{row['id']}-{row['version']}", on_click=on_note,
              args=(row["id"], row["version"]))


def bulk_box(con, flt: queue.Filters) -> None:
    with st.sidebar.expander("Bulk action on this filter"):
        n = queue.count(con, flt)
        action = st.radio("Action", ["accept", "reject"], key="bulk_action", horizontal=True)
        st.text_input("Reason (for reject)", key="bulk_reason")
        sure = st.checkbox(f"Yes, {action} all {n:,} rows of the current filter", key="bulk_sure")
        st.button("Apply", key="bulk_apply", disabled=not sure, on_click=on_bulk, args=(flt,))


def current(row_id: str) -> dict | None:
    try:
        return get_row(ss["con"], row_id)
    except KeyError:
        return None
