"""Rendering a row. Everything derived from a row (content, roles, reasons, file names, metadata,
history) goes through ``st.text`` or ``st.code``, which show it literally: never markdown or HTML, so a
role written as ``![x](http://...)`` is shown as those characters and nothing is fetched."""

from __future__ import annotations

import difflib
import json

import streamlit as st

from curate.rules import RULES
from review_app.languages import script_names
from review_app.run_files import Quarantine, StoreRun, eval_match, location
from review_app.signals import signal_lines
from review_app.store import history, shown_messages

WHY = {r.code: r.why for r in RULES}

# Static CSS only (no row data): hide Streamlit's Deploy menu, keep the action bar in view.
CHROME_CSS = """<style>
[data-testid="stAppDeployButton"], [data-testid="stMainMenu"] {display: none !important;}
.st-key-actionbar {position: sticky; top: 3.5rem; z-index: 99; background: var(--st-background-color, #fff);
  padding: 0.4rem 0; border-bottom: 1px solid rgba(128,128,128,0.3);}
</style>"""


def message_text(content: str, limit: int) -> None:
    """A message's content as text; past ``limit`` characters it is cut, with the rest behind 'show all'."""
    if len(content) <= limit:
        st.text(content)
        return
    st.text(content[:limit] + f"\n... [{len(content) - limit:,} more characters]")
    with st.expander("show all"):
        st.text(content)


def row_body(row: dict, blind: bool, limit: int) -> None:
    """The row: its status line, reasons, the conversation (the imported one on a blind second review),
    and the original record."""
    scripts = ", ".join(script_names(row.get("scripts") or 0)) or "-"
    st.text(f"status {row['status']} · verdict {row['verdict']} · quality {row['quality']:.2f} · language "
            f"{row['lang'] or '?'} · scripts {scripts} · cluster {row['dup_cluster'] or '-'} · "
            f"version {row['version']}")
    for code in row["reasons"]:
        st.text(f"• {code}: {WHY.get(code, '')}")
    st.text("\n".join(signal_lines(row.get("signals"))))
    msgs = row["messages"] if blind else shown_messages(row)
    left, right = st.columns(2)
    with left:
        st.markdown("**Conversation**" + (" (as imported: blind second review)" if blind else ""))
        for m in msgs:
            st.text(f"[{m['role']}]")
            message_text(m["content"], limit)
    with right:
        st.markdown("**Original record**")
        meta = json.dumps(json.loads(row["metadata"]), ensure_ascii=False, indent=1)
        if len(meta) > limit * 2:
            st.code(meta[: limit * 2] + "\n...", language=None)
            with st.expander("show all"):
                st.code(meta, language=None)
        else:
            st.code(meta, language=None)


def contamination_panel(run: StoreRun | None, row: dict, limit: int) -> None:
    """Which eval prompt a contamination row matched: its id, the overlap and the prompt itself (or why
    it cannot be shown)."""
    sig = json.loads(row["signals"]) if row.get("signals") else {}
    eval_id = sig.get("contamination_eval_id")
    if eval_id is None and "contamination.eval" not in row["reasons"]:
        return
    with st.container(border=True):
        if eval_id is None:
            st.text("contamination.eval: the matched eval id is not in this store; open the run again with "
                    "`sieve review RUN_DIR` to import it")
            return
        m = eval_match(run, str(eval_id), sig.get("contamination_overlap"))
        overlap = "?" if m.overlap is None else f"{m.overlap:.0%}"
        st.text(f"Matched eval prompt: id {m.eval_id} in {m.files} · overlap {overlap} of its word n-grams "
                "found in this row's prompt")
        if m.prompt is None:
            st.text(m.note)
        else:
            message_text(m.prompt, limit)


def quarantine_panel(q: Quarantine, shown: int = 100) -> None:
    """The run's quarantined input: counts per code, then each record (location, code, field, error)
    with its raw text collapsed; all as text."""
    st.subheader("Quarantined input")
    if q.note:
        st.text(q.note)
        return
    if not q.records:
        st.text("Nothing was quarantined: every input row could be read.")
        return
    st.text(f"{len(q.records):,} quarantined: " + " · ".join(f"{code} {n:,}" for code, n in q.counts))
    code = st.selectbox("Code", ["(all)"] + [c for c, _ in q.counts], key="q_code")
    picked = [r for r in q.records if code == "(all)" or r.get("code") == code]
    for r in picked[:shown]:
        field = f" · field {r['field']}" if r.get("field") else ""
        st.text(f"{location(r)} · {r.get('code', '?')}{field}\n{r.get('error', '')}")
        if r.get("raw"):
            with st.expander("raw"):
                st.text(r["raw"])
    if len(picked) > shown:
        st.text(f"... and {len(picked) - shown:,} more (quarantine.jsonl in the run folder has them all)")


def cluster_panel(con, row: dict) -> None:
    if not row["dup_cluster"]:
        return
    members = con.execute("SELECT source, prompt, status, quality FROM rows WHERE dup_cluster = ? AND id != ? "
                          "LIMIT 4", (row["dup_cluster"], row["id"])).fetchall()
    if members:
        st.markdown("**Same duplicate cluster**")
        for col, m in zip(st.columns(len(members)), members):
            col.text(f"{m['source']} · {m['status']} · q={m['quality']:.2f}")
            col.text(m["prompt"][:400])


def history_panel(con, row: dict, blind: bool) -> None:
    with st.expander("History of this row"):
        if blind:
            st.text("Hidden until the second review is done (blind review).")
            return
        for d in history(con, row["id"]):
            tag = " (undone)" if d["undone"] else (" (earlier run)" if d["retired"] else "")
            st.text(f"{d['reviewer']} {d['action']}{tag} {d['reason'] or ''} {d['note'] or ''}".rstrip())
            if d["action"] == "fix" and d["before"] and d["after"]:
                st.code(fix_diff(d["before"], d["after"]), language=None)


def fix_diff(before: str, after: str) -> str:
    b = "\n".join(m["content"] for m in json.loads(before))
    a = "\n".join(m["content"] for m in json.loads(after))
    return "\n".join(difflib.unified_diff(b.splitlines(), a.splitlines(), "before", "after", lineterm=""))


def change_lines(changes: list[dict]) -> list[str]:
    """One line per decision another reviewer made since the screen's version (for the conflict panel)."""
    return [f"{c['reviewer']} {c['action']}{' (undone)' if c['undone'] else ''} {c['reason'] or ''}".rstrip()
            for c in changes]
