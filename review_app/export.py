"""The approved set: rows ``sieve curate`` kept, plus rows reviewers accepted or fixed (fixes applied),
minus rows reviewers rejected or left disputed. :func:`approved_rows` is the one place that decides
which rows those are; export and training both read it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from curate.atomic import atomic_write
from curate.errors import OutputError
from curate.formats import NotAlpacaError, is_single_turn, to_alpaca
from review_app.store import require_run

APPROVED = ("(verdict = 'keep' AND status NOT IN ('rejected', 'disputed')) OR status IN ('accepted', 'fixed')")


def approved_rows(con: sqlite3.Connection) -> list[dict]:
    """The approved rows, in run order, each a dict of the store's columns plus ``final_messages``
    (the decoded conversation to train on: the fix when there is one) and ``final_metadata``.

    ``messages``/``fixed_messages`` stay the store's JSON strings, for callers of the first release.
    Raises :class:`review_app.errors.NoRunError` for a store that holds no run (not an empty set)."""
    require_run(con)
    out = []
    for r in con.execute(f"SELECT * FROM rows WHERE {APPROVED} ORDER BY run, row_idx"):
        d = dict(r)
        d["final_messages"] = json.loads(d["fixed_messages"] or d["messages"])
        d["final_metadata"] = json.loads(d["fixed_metadata"] or d["metadata"])
        out.append(d)
    return out


def approved_conversations(con: sqlite3.Connection) -> list[dict]:
    """``{"id", "messages"}`` for every approved row: what ``sieve train`` trains on."""
    return [{"id": r["id"], "messages": r["final_messages"]} for r in approved_rows(con)]


def export_record(row: dict) -> dict:
    """One approved row in its input's format (Alpaca fields for a single-turn Alpaca row)."""
    messages, meta = row["final_messages"], row["final_metadata"]
    rec = {"messages": messages}
    if row["format"] == "alpaca" and is_single_turn(messages):
        try:
            rec = dict(meta) if not row["fixed_messages"] or row["fixed_metadata"] else to_alpaca(messages, meta)
        except NotAlpacaError:  # a fix Alpaca cannot hold (an emptied system prompt): written whole, as messages
            pass
    rec["sieve"] = {"id": row["id"], "source": row["source"], "review": row["status"]}
    return rec


def export_approved(con: sqlite3.Connection, path: str | Path) -> int:
    """Write the approved set as JSONL (atomically); returns the number of rows. Raises
    :class:`OutputError` (naming ``-o``) for a ``path`` that is a folder or cannot be written, and
    :class:`review_app.errors.NoRunError` for a store that holds no run."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"-o {path}: is a folder; sieve review export writes one JSONL file")
    rows = approved_rows(con)
    try:
        atomic_write(path, lambda tmp: tmp.write_text(
            "".join(json.dumps(export_record(r), ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"))
    except OSError as exc:  # its folder is a file, or read-only: the same one line as any other bad -o
        raise OutputError(f"-o {path}: cannot write there ({exc.strerror or exc})") from None
    return len(rows)
