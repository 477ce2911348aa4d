"""The Sieve review app (Streamlit). It only renders: queue, selection and decisions live in
:mod:`review_app.queue`, storage in :mod:`review_app.store`.

Run through ``sieve review RUN_DIR``; the store path comes from the ``SIEVE_REVIEW_DB`` environment
variable. Row text is always shown as text (``st.text``/``st.code``), never as markdown or HTML.
"""

from __future__ import annotations

import json
import os

import streamlit as st

from curate.rules import RULES
from review_app import queue
from review_app.store import ConflictError, connect, get_row, history

WHY = {r.code: r.why for r in RULES}
REJECT_REASONS = ["wrong or misleading answer", "low quality", "duplicate", "unsafe or personal data",
                  "not an instruction", "wrong language", "other (type it)"]


def store(path: str):
    # One connection per browser session: sessions run in their own threads, and each decision is a
    # transaction of its own (WAL and a busy timeout let the sessions' writes queue safely).
    if st.session_state.get("db_path") != path:
        st.session_state["con"], st.session_state["db_path"] = connect(path), path
    return st.session_state["con"]


def sign_in() -> str | None:
    name = st.sidebar.text_input("Reviewer name", key="reviewer").strip()
    password = os.environ.get("SIEVE_REVIEW_PASSWORD")
    if password and st.sidebar.text_input("Password", type="password", key="password") != password:
        st.info("Enter the shared password to start reviewing.")
        return None
    if not name:
        st.info("Enter your reviewer name in the sidebar to start.")
        return None
    return name


def filters_ui(con) -> queue.Filters:
    sb = st.sidebar
    verdicts = sb.multiselect("Verdict", ["review", "keep", "drop"], default=["review"], key="f_verdict")
    reasons = [r[0] for r in con.execute("SELECT DISTINCT reasons FROM rows LIMIT 5000")]
    codes = sorted({c for r in reasons for c in r.split("\x1f") if c})
    reason = sb.selectbox("Reason", ["(any)"] + codes, key="f_reason")
    langs = [r[0] for r in con.execute("SELECT DISTINCT lang FROM rows WHERE lang IS NOT NULL ORDER BY lang")]
    lang = sb.selectbox("Language", ["(any)"] + langs, key="f_lang")
    qmin, qmax = sb.slider("Quality", 0.0, 1.0, (0.0, 1.0), 0.05, key="f_quality")
    cluster = sb.text_input("Duplicate cluster", key="f_cluster").strip()
    search = sb.text_input("Search text", key="f_search").strip()
    return queue.Filters(verdicts=verdicts, reason=None if reason == "(any)" else reason,
                         lang=None if lang == "(any)" else lang, quality_min=qmin, quality_max=qmax,
                         dup_cluster=cluster or None, search=search or None)


def current_row(con, reviewer: str, flt: queue.Filters) -> dict | None:
    row_id = st.session_state.get("row_id")
    if row_id:
        row = get_row(con, row_id)
        if row["status"] in ("pending", "second_review") or st.session_state.get("keep_row"):
            return row
    row = queue.claim_next(con, reviewer, flt)
    st.session_state["row_id"] = row["id"] if row else None
    st.session_state["keep_row"] = False
    return row


def show_row(con, row: dict) -> None:
    st.subheader(f"Row {row['source']}")
    st.caption(f"status {row['status']} · verdict {row['verdict']} · quality {row['quality']:.2f} · "
               f"language {row['lang'] or '?'} · cluster {row['dup_cluster'] or '-'} · version {row['version']}")
    for code in row["reasons"]:
        st.text(f"• {code}: {WHY.get(code, '')}")
    left, right = st.columns(2)
    with left:
        st.markdown("**Normalised**")
        for m in row["fixed_messages"] or row["messages"]:
            st.caption(m["role"])
            st.text(m["content"])
    with right:
        st.markdown("**Original row**")
        st.code(json.dumps(json.loads(row["metadata"]), ensure_ascii=False, indent=1), language="json")
    if row["dup_cluster"]:
        members = con.execute("SELECT source, prompt, status, quality FROM rows WHERE dup_cluster = ? AND id != ? "
                              "LIMIT 4", (row["dup_cluster"], row["id"])).fetchall()
        if members:
            st.markdown("**Same duplicate cluster**")
            for col, m in zip(st.columns(len(members)), members):
                col.caption(f"{m['source']} · {m['status']} · q={m['quality']:.2f}")
                col.text(m["prompt"][:400])


def act(con, reviewer: str, row: dict, action: str, **kw) -> None:
    try:
        queue.decide(con, row["id"], reviewer, action, row["version"], **kw)
    except (ConflictError, ValueError) as exc:  # shown above the row, which stays open; nothing is lost
        st.session_state["flash"] = ("error", f"not saved: {exc}")
        st.session_state["keep_row"] = True
        st.rerun()
    done = {"accept": "accepted", "reject": "rejected", "fix": "fixed", "skip": "skipped", "note": "noted"}[action]
    st.session_state["flash"] = ("success", f"{done} by {reviewer}")
    st.session_state["history_stack"] = st.session_state.get("history_stack", []) + [row["id"]]
    st.session_state["keep_row"] = action == "note"
    if action != "note":
        st.session_state["row_id"] = None
    st.rerun()


def actions_ui(con, reviewer: str, row: dict) -> None:
    c = st.columns(5)
    if c[0].button("Accept", key="accept", type="primary", shortcut="a"):
        act(con, reviewer, row, "accept")
    reason = c[1].selectbox("Reject reason", REJECT_REASONS, key="reject_reason", label_visibility="collapsed")
    typed = st.text_input("Reject reason (typed)", key="reject_typed") if reason.startswith("other") else ""
    if c[2].button("Reject", key="reject", shortcut="x"):
        act(con, reviewer, row, "reject", reason=typed if reason.startswith("other") else reason)
    if c[3].button("Skip / next", key="skip", shortcut="n"):
        act(con, reviewer, row, "skip")
    if c[4].button("Undo last", key="undo", shortcut="u"):
        undone = queue.undo_last(con, reviewer)
        st.session_state["flash"] = ("info", f"undid the last decision on {undone['source']}" if undone else "nothing to undo")
        if undone:
            st.session_state["row_id"], st.session_state["keep_row"] = undone["id"], True
        st.rerun()
    if st.button("Previous row", key="previous", shortcut="p") and st.session_state.get("history_stack"):
        st.session_state["row_id"] = st.session_state["history_stack"].pop()
        st.session_state["keep_row"] = True
        st.rerun()
    fix_ui(con, reviewer, row)
    note = st.text_input("Note", key=f"note_{row['id']}")
    if st.button("Save note", key="save_note") and note.strip():
        act(con, reviewer, row, "note", note=note)


def fix_ui(con, reviewer: str, row: dict) -> None:
    # A form: edits do not rerun the app on every keystroke or blur; "Save fix" submits them at once.
    with st.expander("Fix in place"), st.form(key=f"fix_form_{row['id']}"):
        meta = json.loads(row["metadata"])
        msgs = row["fixed_messages"] or row["messages"]
        alpaca = row["format"] == "alpaca" and len(msgs) == 2 and not row["fixed_messages"]
        if alpaca:
            fields = {k: st.text_area(k, str(meta.get(k, "") or ""), key=f"fix_{k}_{row['id']}")
                      for k in ("instruction", "input", "output")}
        else:
            edited = [{"role": m["role"], "content": st.text_area(f"{i}: {m['role']}", m["content"],
                                                                  key=f"fix_m{i}_{row['id']}")}
                      for i, m in enumerate(msgs)]
        if st.form_submit_button("Save fix", key="save_fix"):
            if not alpaca:
                act(con, reviewer, row, "fix", fixed=edited)
            try:
                fixed = queue.alpaca_fix(fields)
            except ValueError as exc:
                st.session_state["flash"] = ("error", f"not saved: {exc}")
                st.session_state["keep_row"] = True
                st.rerun()
            act(con, reviewer, row, "fix", fixed=fixed, fixed_metadata={**meta, **fields})


def bulk_ui(con, reviewer: str, flt: queue.Filters) -> None:
    with st.sidebar.expander("Bulk action on this filter"):
        n = queue.count(con, flt)
        action = st.radio("Action", ["accept", "reject"], key="bulk_action", horizontal=True)
        reason = st.text_input("Reason (for reject)", key="bulk_reason")
        sure = st.checkbox(f"Yes, {action} all {n} rows of the current filter", key="bulk_sure")
        if st.button("Apply", key="bulk_apply", disabled=not sure):
            try:
                done = queue.bulk(con, reviewer, flt, action, reason or None)
                st.session_state["flash"] = ("success", f"{action}ed {done} rows")
            except ValueError as exc:
                st.session_state["flash"] = ("error", str(exc))


def progress_page(con) -> None:
    p = queue.progress(con)
    st.subheader("Progress")
    st.metric("Rows left to review", p["left"])
    if p["by_status"]:
        st.bar_chart({"rows": p["by_status"]})
    if p["reviewers"]:
        st.bar_chart({"decisions": {k: v["decisions"] for k, v in p["reviewers"].items()}})
        st.table([{"reviewer": k, "decisions": v["decisions"], "per hour": round(v["per_hour"], 1)}
                  for k, v in p["reviewers"].items()])
    st.text(f"Agreement on double-reviewed rows (Cohen's kappa): {p['kappa'] if p['kappa'] is not None else 'n/a'}")


def history_panel(con, row: dict) -> None:
    with st.expander("History of this row"):
        for d in history(con, row["id"]):
            st.text(f"{d['reviewer']} {d['action']}{' (undone)' if d['undone'] else ''} "
                    f"{d['reason'] or ''} {d['note'] or ''}")
            if d["action"] == "fix":
                import difflib

                before = "\n".join(m["content"] for m in json.loads(d["before"]))
                after = "\n".join(m["content"] for m in json.loads(d["after"]))
                st.code("\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after",
                                                       lineterm="")), language="diff")


def main() -> None:
    st.set_page_config(page_title="Sieve review", layout="wide")
    con = store(os.environ.get("SIEVE_REVIEW_DB", "review.sqlite"))
    reviewer = sign_in()
    if reviewer is None:
        return
    page = st.sidebar.radio("Page", ["Queue", "Disputes", "Progress"], key="page")
    flash = st.session_state.pop("flash", None)
    if flash:
        getattr(st, flash[0])(flash[1])
    if page == "Progress":
        progress_page(con)
        return
    flt = filters_ui(con)
    if page == "Disputes":
        flt = queue.Filters(verdicts=[], statuses=["disputed"])
    bulk_ui(con, reviewer, flt)
    row = current_row(con, reviewer, flt)
    if row is None:
        st.success("Nothing left in this queue.")
        return
    show_row(con, row)
    actions_ui(con, reviewer, row)
    history_panel(con, row)


main()
