"""The approved set: rows ``sieve curate`` kept, plus rows reviewers accepted or fixed (fixes applied),
minus rows reviewers rejected, each in its input's format."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from curate.atomic import atomic_write
from curate.formats import is_single_turn, to_alpaca


def approved_rows(con: sqlite3.Connection) -> list[dict]:
    sql = ("SELECT * FROM rows WHERE (verdict = 'keep' AND status NOT IN ('rejected', 'disputed')) "
           "OR status IN ('accepted', 'fixed') ORDER BY run, row_idx")
    return [dict(r) for r in con.execute(sql)]


def export_record(row: dict) -> dict:
    messages = json.loads(row["fixed_messages"] or row["messages"])
    meta = json.loads(row["fixed_metadata"] or row["metadata"])
    if row["format"] == "alpaca" and is_single_turn(messages):
        rec = dict(meta) if not row["fixed_messages"] or row["fixed_metadata"] else to_alpaca(messages, meta)
    else:
        rec = {"messages": messages}
    rec["sieve"] = {"id": row["id"], "source": row["source"], "review": row["status"]}
    return rec


def export_approved(con: sqlite3.Connection, path: str | Path) -> int:
    """Write the approved set as JSONL (atomically); returns the number of rows."""
    rows = approved_rows(con)
    atomic_write(path, lambda tmp: tmp.write_text(
        "".join(json.dumps(export_record(r), ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"))
    return len(rows)
