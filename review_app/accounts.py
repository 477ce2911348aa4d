"""Reviewer accounts for teams: a name and an argon2id hash of its password, kept in the store's
``reviewers`` table. Plain functions; they never import streamlit.

argon2id (argon2-cffi, the reference implementation's binding; the winner of the Password Hashing
Competition and OWASP's first choice) with the library's default cost, which it raises between releases:
a hash made with an older cost is rehashed at the next sign-in. The password itself is never stored,
logged or returned. No account in the store: the app keeps its zero-setup sign-in.
"""

from __future__ import annotations

import sqlite3
import time
import unicodedata

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from review_app.errors import AccountError, ReviewError
from review_app.store import transaction

MIN_PASSWORD = 8  # NIST SP 800-63B's floor for a password a person chooses
MAX_PASSWORD = 1024  # argon2 hashes any length; a bound keeps one sign-in from costing seconds of hashing


class Account(BaseModel):
    """An account as the CLI is asked to write it: the name a reviewer signs in with and their password."""

    model_config = ConfigDict(extra="forbid")
    name: str
    password: SecretStr  # SecretStr: a repr or a log of this model shows '**********'

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = unicodedata.normalize("NFC", v.strip())
        if not 1 <= len(v) <= 64:
            raise ValueError("a reviewer name has 1 to 64 characters")
        if any(unicodedata.category(c).startswith("C") for c in v):
            raise ValueError("a reviewer name cannot hold control characters")
        return v

    @field_validator("password")
    @classmethod
    def _password(cls, v: SecretStr) -> SecretStr:
        if not MIN_PASSWORD <= len(v.get_secret_value()) <= MAX_PASSWORD:
            raise ValueError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        return v


def _account(name: str, password: str) -> Account:
    try:
        return Account(name=name, password=password)
    except ValidationError as exc:
        raise AccountError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None


def _hasher():
    try:
        from argon2 import PasswordHasher
    except ImportError:
        raise ReviewError("reviewer accounts need argon2-cffi: pip install 'sieve[review]'") from None
    return PasswordHasher()


def has_accounts(con: sqlite3.Connection) -> bool:
    return con.execute("SELECT 1 FROM reviewers LIMIT 1").fetchone() is not None


def reviewer_names(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM reviewers ORDER BY name")]


def add_reviewer(con: sqlite3.Connection, name: str, password: str) -> str:
    """Create the account; returns the name as stored. Raises :class:`AccountError` for a name taken
    (whatever its case) or a name or password that cannot be used."""
    acc = _account(name, password)
    digest, now = _hasher().hash(acc.password.get_secret_value()), time.time()
    with transaction(con):
        if con.execute("SELECT 1 FROM reviewers WHERE name = ?", (acc.name,)).fetchone():
            raise AccountError(f"reviewer {acc.name} already has an account: use reset-password to change it")
        con.execute("INSERT INTO reviewers VALUES (?, ?, ?, ?)", (acc.name, digest, now, now))
    return acc.name


def _stored(con: sqlite3.Connection, name: str) -> str:
    r = con.execute("SELECT name FROM reviewers WHERE name = ?", (name.strip(),)).fetchone()
    if r is None:
        names = ", ".join(reviewer_names(con)) or "none"
        raise AccountError(f"no reviewer account {name.strip()!r} in this store (accounts: {names})")
    return r[0]


def remove_reviewer(con: sqlite3.Connection, name: str) -> str:
    """Delete the account (their decisions stay, under their name); returns the name removed. A session
    signed in with it is signed out at its next rerun. Raises :class:`AccountError` for no such account."""
    with transaction(con):
        stored = _stored(con, name)
        con.execute("DELETE FROM reviewers WHERE name = ?", (stored,))
    return stored


def reset_password(con: sqlite3.Connection, name: str, password: str) -> str:
    """Set a new password; sessions signed in with the old one are signed out at their next rerun.
    Raises :class:`AccountError` for no such account or a password that cannot be used."""
    acc = _account(name, password)
    digest = _hasher().hash(acc.password.get_secret_value())
    with transaction(con):
        stored = _stored(con, name)
        con.execute("UPDATE reviewers SET password_hash = ?, changed_at = ? WHERE name = ?",
                    (digest, time.time(), stored))
    return stored


# Verified against when the name is unknown, so a wrong name takes as long as a wrong password and the
# timing does not tell which names have accounts. Made on first use (hashing costs tens of ms).
_DUMMY: list[str] = []


def verify(con: sqlite3.Connection, name: str, password: str) -> tuple[str, float] | None:
    """(the stored name, when its password last changed) when ``password`` is that account's, else None.
    A hash made with an older argon2 cost is replaced by one with today's."""
    from argon2.exceptions import InvalidHashError, VerificationError

    ph = _hasher()
    r = con.execute("SELECT name, password_hash, changed_at FROM reviewers WHERE name = ?",
                    (unicodedata.normalize("NFC", name.strip()),)).fetchone()
    if r is None:
        _DUMMY or _DUMMY.append(ph.hash("not a password of anyone"))
        digest = _DUMMY[0]
    else:
        digest = r["password_hash"]
    try:
        ph.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return None
    if r is None:
        return None
    if ph.check_needs_rehash(digest):
        con.execute("UPDATE reviewers SET password_hash = ? WHERE name = ?", (ph.hash(password), r["name"]))
    return r["name"], r["changed_at"]


def still_valid(con: sqlite3.Connection, name: str, changed_at: float) -> bool:
    """True while the account exists and its password is the one the session signed in with."""
    r = con.execute("SELECT changed_at FROM reviewers WHERE name = ?", (name,)).fetchone()
    return r is not None and r[0] == changed_at
