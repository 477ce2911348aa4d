"""The Sieve review app (Streamlit). It only renders and wires widgets: the queue lives in
:mod:`review_app.queue`, decisions in :mod:`review_app.decisions`, storage in :mod:`review_app.store`.

Run through ``sieve review RUN_DIR``; the store path comes from ``SIEVE_REVIEW_DB`` and an optional
review config (TOML) from ``SIEVE_REVIEW_CONFIG``. ``SIEVE_REVIEW_GUIDELINES``, when set, names the
project's guidelines (markdown), one click or the g key away on every page. Sign-in (reviewer accounts,
the shared ``SIEVE_REVIEW_PASSWORD``, or neither on a loopback address) is :mod:`review_app.signin`;
nothing of the store but its accounts is read before it.
"""

from __future__ import annotations

import logging
import os

import streamlit as st

from review_app import actions, queue
from review_app import formats as fmt
from review_app.errors import ReviewError
from review_app.help import GUIDELINES, HELP, key_map, read_guidelines
from review_app.languages import SCRIPTS, language_mix_lines
from review_app.progress import progress
from review_app.store import connect
from review_app.run_files import quarantine, store_run
from review_app.signin import sign_in
from review_app.stats_page import stats_page
from review_app.table_page import table_page
from review_app.tabs import Tabs
from review_app.view import CHROME_CSS, cluster_panel, contamination_panel, history_panel, quarantine_panel, row_body
from schemas.review_config import ReviewConfig, load_review_config

PAGES = ["Queue", "Disputes", "Table", "Progress", "Stats"]
ss = st.session_state
log = logging.getLogger("sieve.review")


@st.cache_resource
def tabs() -> Tabs:
    return Tabs()  # one per server process: every session's rerun can see which tabs have gone


def free_gone_tabs(con) -> None:
    """Register this tab, then free the rows of review sessions whose tab closed or reloaded (Streamlit
    drops a tab from its active sessions when its websocket goes). Without a runtime to ask (AppTest,
    a future Streamlit without it), the lease expiry alone frees them."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    runtime = Runtime.instance() if Runtime.exists() else None
    connected = getattr(runtime, "is_active_session", None)
    if ctx is None or not callable(connected):
        return
    tabs().register(ss["session"], ctx.session_id)
    gone = tabs().gone(lambda tab: bool(connected(tab)))
    if gone:
        queue.release_sessions(con, gone)


def store(path: str):
    # One connection per browser session: sessions run in their own threads, and each decision is a
    # transaction of its own (WAL and a busy timeout let the sessions' writes queue safely).
    if ss.get("db_path") != path:
        ss["con"], ss["db_path"] = connect(path), path
    return ss["con"]


@st.cache_data(ttl=300, show_spinner=False)
def filter_choices(db_path: str) -> tuple[list[str], list[str]]:
    # Reason codes and languages change only on import: one scan of the store per 5 minutes, not per click.
    con = ss["con"]
    langs = [r[0] for r in con.execute("SELECT DISTINCT lang FROM rows WHERE lang IS NOT NULL ORDER BY lang")]
    return queue.reasons_in_store(con), langs


def filters_ui(con) -> queue.Filters:
    sb = st.sidebar
    codes, langs = filter_choices(ss["db_path"])
    verdicts = sb.multiselect("Verdict", ["review", "keep", "drop"], default=["review"], key="f_verdict")
    reason = sb.selectbox("Reason", ["(any)"] + codes, key="f_reason")
    lang = sb.selectbox("Language", ["(any)"] + langs, key="f_lang")
    script = sb.selectbox("Script", ["(any)", *SCRIPTS], key="f_script",
                          help="Rows whose prompt or response holds a letter of this script. Han: Chinese "
                          "characters and Japanese kanji; Kana: Japanese; Other: any script not listed.")
    qmin, qmax = sb.slider("Quality", 0.0, 1.0, (0.0, 1.0), 0.05, key="f_quality")
    cluster = sb.text_input("Duplicate cluster", key="f_cluster").strip()
    search = sb.text_input("Search text", key="f_search",
                           help="Rows whose text (as imported, or as fixed) holds these words in this order, "
                           "case and accents ignored; the last word may be cut short. Punctuation alone, and "
                           "Chinese, Japanese or Thai text, is looked up as a substring (slower).").strip()
    return queue.Filters(verdicts=tuple(verdicts), reason=None if reason == "(any)" else reason,
                         lang=None if lang == "(any)" else lang, script=None if script == "(any)" else script,
                         quality_min=qmin, quality_max=qmax,
                         dup_cluster=cluster or None, search=search or None)


def current_row(con, cfg: ReviewConfig, who: str, flt: queue.Filters, view: tuple) -> dict | None:
    """The row on screen: the one this session has open while it still belongs to this page and filter
    (or was opened on purpose: undo, previous, a conflict), else the next one the queue leases to it."""
    rid = ss.get("row_id")
    if rid and ss.get("view") == view:
        row = actions.current(rid)
        if row and (ss.get("pinned") or queue.matches(con, rid, flt)):
            return row
    row = queue.claim_next(con, ss["session"], who, flt, cfg.lease_seconds)
    ss["row_id"], ss["pinned"], ss["view"] = (row["id"] if row else None), False, view
    if row and row["new_pass"]:
        st.info("Every row of this queue was shown (or skipped) in this pass: starting again from the first.")
    return row


def heartbeat(row_id: str, who: str, lease_s: float) -> None:
    free_gone_tabs(ss["con"])  # every open tab's heartbeat frees the rows of closed ones
    holder = queue.renew_lease(ss["con"], row_id, ss["session"], who, lease_s)
    if holder:
        st.warning("Another reviewer has this row open now: saving will show you their change first.")
        st.text(f"held by {holder}")


def queue_page(con, cfg: ReviewConfig, who: str, flt: queue.Filters, view: tuple, disputes: bool) -> None:
    row = current_row(con, cfg, who, flt, view)
    actions.conflict_panel(row)
    if row is None:
        st.success("No disputes." if disputes else "Nothing left in this queue.")
        return
    k, n = queue.position(con, flt, row)
    st.subheader("Dispute" if disputes else "Row")
    st.text((f"row {k:,} of {n:,} in this queue" if k else f"this row is not in the current queue ({n:,} rows are)")
            + f" · {row['source']}")
    st.fragment(heartbeat, run_every=cfg.heartbeat_seconds)(row["id"], who, cfg.lease_seconds)
    blind = row["status"] == "second_review" and not disputes
    actions.action_bar(row)
    row_body(row, blind, cfg.collapse_chars)
    contamination_panel(store_run(con), row, cfg.collapse_chars)
    actions.fix_form(row, blind)
    actions.note_box(row)
    cluster_panel(con, row)
    history_panel(con, row, blind)


def progress_page(con) -> None:
    p = progress(con)
    st.subheader("Progress")
    st.metric("Rows left to review", f"{p['left']:,}")
    st.metric("Disputes", f"{p['disputed']:,}")
    if p["by_status"]:
        st.bar_chart({"rows": p["by_status"]})
    if p["reviewers"]:
        st.table([{"reviewer": k, "decisions": fmt.count(v["decisions"]), "per hour": fmt.per_hour(v["per_hour"])}
                  for k, v in p["reviewers"].items()], hide_index=True)
    st.text(f"Agreement on double-reviewed rows (Cohen's kappa): {fmt.kappa(p['kappa'])}")
    run = store_run(con)
    st.subheader("Languages")
    st.text("\n".join(language_mix_lines(run.manifest if run else None)))
    quarantine_panel(quarantine(run))


# Static script, no row data: "?" (not a key Streamlit's shortcuts accept) presses the Keys button, unless
# the reviewer is typing. Added once per tab: the flag survives reruns.
QUESTION_MARK_JS = """<script>
if (!window.sieveHelpKey) {
  window.sieveHelpKey = true;
  document.addEventListener("keydown", (e) => {
    const t = e.target, typing = t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
    if (e.key === "?" && !typing) { document.querySelector(".st-key-keys_help button")?.click(); }
  });
}
</script>"""


@st.dialog("Keys", width="large")
def keys_dialog(guidelines: bool) -> None:
    # A table, not padded text: the app's font is proportional, so padding would not line the keys up.
    st.table([{"key": k, "does": what} for k, what in key_map(actions.REJECT_REASONS, guidelines)], hide_index=True)
    st.text("Every key acts on the row on screen, as its button would.")


@st.dialog("Review guidelines", width="large")
def guidelines_dialog(path: str) -> None:
    try:
        text = read_guidelines(path)
    except ReviewError as exc:  # the file went after the app started
        st.error(str(exc))
        return
    st.markdown(text)  # the project's own file: the one place markdown is rendered, never row text


def help_buttons() -> None:
    """Keys and Guidelines in the sidebar of every page: each one click (or one key) away."""
    guidelines = os.environ.get("SIEVE_REVIEW_GUIDELINES") or None
    left, right = st.sidebar.columns(2)
    if left.button("Keys", key="keys_help", shortcut=HELP):
        keys_dialog(guidelines is not None)
    if guidelines and right.button("Guidelines", key="guidelines", shortcut=GUIDELINES):
        guidelines_dialog(guidelines)
    st.html(QUESTION_MARK_JS, unsafe_allow_javascript=True)


def main() -> None:
    st.set_page_config(page_title="Sieve review", layout="wide")
    st.markdown(CHROME_CSS, unsafe_allow_html=True)  # static CSS, no row data
    cfg = load_review_config(os.environ.get("SIEVE_REVIEW_CONFIG") or None)
    con = store(os.environ.get("SIEVE_REVIEW_DB", "review.sqlite"))  # sign-in reads its reviewer accounts
    who = sign_in(cfg, con)
    if who is None:
        return
    ss["cfg"] = cfg
    free_gone_tabs(con)  # a reloaded tab signs in afresh: its previous session's row is freed here
    help_buttons()
    page = st.sidebar.radio("Page", PAGES, key="page")
    flash = ss.pop("flash", None)
    if flash:  # (kind, message[, detail]): the detail may hold row text, so it is shown as text
        getattr(st, flash[0])(flash[1])
        if len(flash) > 2:
            st.text(flash[2])
    if page in ("Progress", "Stats", "Table"):  # no row is open on these pages: free it for others
        queue.release(con, ss["session"])
        ss["row_id"] = None
    if page == "Progress":
        progress_page(con)
        return
    if page == "Stats":
        stats_page(con)
        return
    if page == "Disputes":
        flt = queue.DISPUTES
    else:
        flt = filters_ui(con)
    if page == "Table":
        table_page(con, flt)
        return
    if page == "Queue":
        actions.bulk_box(con, flt)
    queue_page(con, cfg, who, flt, (page, flt), disputes=page == "Disputes")


def run() -> None:
    """One error boundary: a review error is one line; anything else is logged, never a traceback."""
    try:
        main()
    except ReviewError as exc:
        st.error("The review store cannot be used as it is:")
        st.text(str(exc))
    except Exception:  # noqa: BLE001 - the boundary: the log has the traceback, the page one line
        log.exception("review app error")
        st.error("Something went wrong; the server log has the details.")


run()
