"""Sign-in: who the reviewer is, before anything of the store's rows is shown. It renders the form and
wires it to :mod:`review_app.auth` (the shared password, the delay after failures) and
:mod:`review_app.accounts` (reviewer accounts).

Three modes, picked by what is set up, weakest last:
- accounts in the store: name and that account's password; the decisions' reviewer is the account's
  name as stored, never free text. (The shared password, if also set, is not asked: accounts replace it.)
- ``SIEVE_REVIEW_PASSWORD`` set: any name, and the shared password.
- neither: any name, on a loopback address only (the zero-setup default on one's own machine).
"""

from __future__ import annotations

import os
import uuid

import streamlit as st

from review_app import queue
from review_app.accounts import has_accounts, still_valid, verify
from review_app.auth import Throttle, is_loopback
from schemas.review_config import ReviewConfig

ss = st.session_state


@st.cache_resource
def throttle(base: float, cap: float) -> Throttle:
    return Throttle(base, cap)  # one per server process: a new tab does not reset the delay


def signed_in(con) -> str | None:
    """The signed-in name, or None. A session signed in with an account whose account was removed, or
    whose password was reset, since is signed out here (its row freed)."""
    who, account = ss.get("who"), ss.get("account")
    if who and account and not still_valid(con, *account):
        queue.release(con, ss["session"])
        ss["who"] = ss["account"] = None
        st.warning("Your account was removed or its password was reset: sign in again.")
        return None
    return who


def sign_in(cfg: ReviewConfig, con) -> str | None:
    """The reviewer's name once signed in, else None (and the sign-in form is shown). A reload is a new
    browser session, so it signs in afresh and holds no row."""
    who = signed_in(con)
    if who:
        st.sidebar.text(f"Signed in as {who}")
        return who
    accounts = has_accounts(con)
    password = "" if accounts else os.environ.get("SIEVE_REVIEW_PASSWORD") or ""
    host = st.get_option("server.address") or "0.0.0.0"  # unset: Streamlit listens on every address
    if not accounts and not password and not is_loopback(host):
        st.error("This app listens beyond this machine and has neither reviewer accounts nor SIEVE_REVIEW_PASSWORD: "
                 "it serves nothing. Add accounts (sieve review add-reviewer), set the password, or listen on "
                 "127.0.0.1.")
        return None
    with st.form("signin"):
        name = st.text_input("Reviewer name", key="signin_name")
        given = st.text_input("Password", type="password", key="signin_password") if accounts or password else ""
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        ask = " and your password" if accounts else " and the shared password" if password else ""
        st.info(f"Enter your reviewer name{ask} to start.")
        return None
    gate = throttle(cfg.password_delay_s, cfg.password_delay_max_s)
    if not name.strip():
        st.error("Enter your reviewer name.")
    elif accounts:
        account = gate.check(lambda: verify(con, name, given))
        if account is None:
            st.error("Wrong name or password.")  # one message: it does not tell which names exist
            return None
        ss["who"], ss["account"], ss["session"] = account[0], account, uuid.uuid4().hex
        st.rerun()
    elif password and not gate.attempt(given, password):
        st.error("Wrong password.")
    else:
        ss["who"], ss["account"], ss["session"] = name.strip(), None, uuid.uuid4().hex
        st.rerun()
    return None
