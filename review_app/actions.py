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
from review_app.bulk import bulk_filter, summary
from review_app.decisions import Action, alpaca_fix, decide, row_problems, undo_last
from review_app.errors import ConflictError, ReviewError
from review_app.help import ACCEPT, OPEN_FIX, PREVIEW_FIX, PREVIOUS, REJECT, SAVE_FIX, SKIP, UNDO, field_diffs, numbered_reasons
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


def _fix_fields(row_id: str, version: int, alpaca: bool, n: int) -> dict[str, str]:
    """The fix form's fields as submitted, by their label."""
    if alpaca:
        return {k: ss[f"fix_{k}_{row_id}_{version}"] for k in ("instruction", "input", "output")}
    return {label: ss[f"fix_{w}{i}_{row_id}_{version}"] for i in range(n)
            for label, w in ((f"message {i + 1} role", "r"), (f"message {i + 1} content", "m"))}


def on_preview(row_id: str, version: int, alpaca: bool, n: int, meta: dict) -> None:
    """Validate the submitted fix and keep it as a draft of this row and version: the screen shows its
    diff, and Save fix saves exactly that draft."""
    fields = _fix_fields(row_id, version, alpaca, n)
    try:
        if alpaca:
            fixed, fixed_meta = alpaca_fix(fields), {**meta, **fields}
        else:
            fixed = [{"role": fields[f"message {i + 1} role"].strip(), "content": fields[f"message {i + 1} content"]}
                     for i in range(n)]
            fixed_meta = None
    except ValueError as exc:
        ss["fix_draft"] = None
        ss["flash"] = ("error", "not saved:", str(exc))
        return
    row = current(row_id)
    if row is None or row["version"] != version:  # changed since the screen: the conflict panel, with my text
        on_decide("fix", row_id, version, fixed=fixed, fixed_metadata=fixed_meta)  # the version check writes nothing
        return
    ss["fix_draft"] = {"row": row_id, "version": version, "fields": fields, "fixed": fixed, "meta": fixed_meta}
    ss[f"fix_open_{row_id}_{version}"] = True


def on_save_fix(row_id: str, version: int) -> None:
    draft = ss.pop("fix_draft", None)
    if not draft or (draft["row"], draft["version"]) != (row_id, version):  # a draft of another screen
        ss["flash"] = ("error", "not saved: preview the fix of the row shown first")
        return
    on_decide("fix", row_id, version, fixed=draft["fixed"], fixed_metadata=draft["meta"])


def on_open_fix(row_id: str, version: int) -> None:
    ss[f"fix_open_{row_id}_{version}"] = True  # opens only: a key pressed twice leaves it open


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
        res = bulk_filter(con, session, who, flt, kind, ss.get("bulk_reason") or None)
    except (ReviewError, ValueError) as exc:
        ss["flash"] = ("error", "not applied:", str(exc))
        return
    ss["flash"] = ("success", summary(res, kind) + ("; Undo last takes them all back" if res.done else ""))
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
        c = st.columns([1, 2, 1, 1, 1, 1, 1])
        c[0].button("Accept", key=f"accept-{rid}-{v}", type="primary", shortcut=ACCEPT, disabled=bool(problems),
                    on_click=on_decide, args=("accept", rid, v))
        reason = c[1].selectbox("Reject reason", REJECT_REASONS, key="reject_reason", label_visibility="collapsed")
        c[2].button("Reject", key=f"reject-{rid}-{v}", shortcut=REJECT, on_click=on_reject, args=(rid, v))
        c[3].button("Skip", key=f"skip-{rid}-{v}", shortcut=SKIP, on_click=on_skip, args=(rid,))
        c[4].button("Fix", key=f"open_fix-{rid}-{v}", shortcut=OPEN_FIX, on_click=on_open_fix, args=(rid, v))
        c[5].button("Undo last", key="undo", shortcut=UNDO, on_click=on_undo)
        c[6].button("Previous", key="previous", shortcut=PREVIOUS, on_click=on_previous)
        if reason.startswith("other"):
            st.text_input("Reject reason (typed)", key="reject_typed")
        # One button per numbered reason: its key (1-9) rejects the row this button was drawn with.
        numbered = numbered_reasons(REJECT_REASONS)
        for col, (k, r) in zip(st.columns(len(numbered)), numbered):
            col.button(r, key=f"reject{k}-{rid}-{v}", shortcut=k, type="tertiary", on_click=on_decide,
                       args=("reject", rid, v), kwargs={"reason": r})
    if problems:
        st.warning("Not a valid conversation: it cannot be accepted until it is fixed (or reject it).")
        st.text(", ".join(problems))


def fix_form(row: dict, blind: bool) -> None:
    """The fix form, open on the Fix key or when the row is invalid. A form: edits do not rerun the app on
    every keystroke. "Preview fix" submits them and shows each changed field as a diff; "Save fix" then
    saves that preview, with the row id and version it was drawn with."""
    rid, v = row["id"], row["version"]
    msgs = row["messages"] if blind else shown_messages(row)
    meta = json.loads(row["fixed_metadata"] or row["metadata"]) if not blind else json.loads(row["metadata"])
    alpaca = (row["format"] == "alpaca" and [m["role"] for m in msgs] == ["user", "assistant"]
              and (not row["fixed_messages"] or row["fixed_metadata"] or blind))
    if alpaca:
        before = {k: str(meta.get(k, "") or "") for k in ("instruction", "input", "output")}
    else:
        before = {f"message {i + 1} {part}": m[k] for i, m in enumerate(msgs)
                  for part, k in (("role", "role"), ("content", "content"))}
    if row_problems(row):
        ss.setdefault(f"fix_open_{rid}_{v}", True)
    with st.expander("Fix in place", key=f"fix_open_{rid}_{v}", on_change="rerun"):
        with st.form(key=f"fix_form_{rid}_{v}"):
            if alpaca:
                for k in before:
                    st.text_area(k, before[k], key=f"fix_{k}_{rid}_{v}")
            else:
                for i, m in enumerate(msgs):
                    st.text_input(f"message {i + 1}: role (system, user or assistant)", m["role"], key=f"fix_r{i}_{rid}_{v}")
                    st.text_area(f"message {i + 1}: content", m["content"], key=f"fix_m{i}_{rid}_{v}")
            st.form_submit_button("Preview fix", key=f"preview_fix-{rid}-{v}", on_click=on_preview,
                                  args=(rid, v, alpaca, len(msgs), meta), help=f"{PREVIEW_FIX} in a box does the same")
        draft = ss.get("fix_draft")
        if not draft or (draft["row"], draft["version"]) != (rid, v):
            return
        diffs = field_diffs(before, draft["fields"])
        if not diffs:
            st.text("The preview changes nothing: edit a field, then preview again.")
            return
        st.text("Your fix, before it is saved (- before, + after):")
        for field, diff in diffs:  # row text: shown literally, never as markdown
            st.text(field)
            st.code(diff, language=None)
        st.button("Save fix", key=f"save_fix-{rid}-{v}", type="primary", shortcut=SAVE_FIX,
                  on_click=on_save_fix, args=(rid, v))


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
