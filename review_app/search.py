"""Text search over the store's rows: SQLite's full-text index (FTS5) when this Python's SQLite has it,
else a scan of every row. Plain functions; they never import streamlit.

``rows_fts`` is a contentless FTS5 table (the text lives once, in ``rows``) whose rowid is the row's
rowid, with two columns: ``imported`` (the contents of the imported messages) and ``fixed`` (the
contents of a reviewer's fix, empty until there is one). Triggers keep it in step with ``rows``: a
new row is indexed (an import indexes its rows in one statement instead, :func:`bulk_insert`), and a change of ``messages`` or ``fixed_messages`` (a fix, an undo, a carry-over)
takes the old text out and puts the new in. Both sides compute the text with the same SQL
(:data:`TEXT_SQL`), which a contentless table needs: deleting an entry means passing the text it was
indexed with. Rows are never deleted, except by a carry-over's move to ``retired_rows``, which empties
the index first (:func:`clear`).

User text never reaches FTS syntax: :func:`match_query` quotes it as one FTS5 string, so ``"``, ``AND``,
``*``, ``-`` or ``NEAR(`` are searched as words (or ignored as punctuation), never run as operators.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

from review_app.errors import StoreVersionError

# The contents of a messages JSON column, one message per line (role names are not text: "user" must not
# match every row). json_valid and the type test keep a malformed value from failing the row's write.
TEXT_SQL = ("(SELECT group_concat(json_extract(j.value, '$.content'), char(10)) FROM "
            "json_each(CASE WHEN json_valid({col}) THEN {col} END) AS j WHERE j.type = 'object')")
# unicode61 with diacritics folded: "cafe" finds "café". columnsize=0: no ranking, so no per-row sizes.
CREATE = ("CREATE VIRTUAL TABLE rows_fts USING fts5(imported, fixed, content='', columnsize=0, "
          "tokenize='unicode61 remove_diacritics 2')")
INSERT_TRIGGER = ("CREATE TRIGGER rows_fts_insert AFTER INSERT ON rows BEGIN "
                  "INSERT INTO rows_fts(rowid, imported, fixed) VALUES (new.rowid, {new_m}, {new_f}); END")
# Every decision writes fixed_messages; only a change of text touches the index.
UPDATE_TRIGGER = ("CREATE TRIGGER rows_fts_update AFTER UPDATE OF messages, fixed_messages ON rows WHEN "
                  "old.messages IS NOT new.messages OR old.fixed_messages IS NOT new.fixed_messages BEGIN "
                  "INSERT INTO rows_fts(rows_fts, rowid, imported, fixed) VALUES ('delete', old.rowid, {old_m}, {old_f}); "
                  "INSERT INTO rows_fts(rowid, imported, fixed) VALUES (new.rowid, {new_m}, {new_f}); END")
# Scripts written without spaces between words: unicode61 makes a whole clause one token, so a word
# inside it cannot be found through the index. Such a search scans the rows instead.
_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN")


def _has_fts5() -> bool:
    try:
        sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE t USING fts5(x)")
    except sqlite3.OperationalError:
        return False
    return True


AVAILABLE = _has_fts5()
SCAN_NOTE = ("this Python's SQLite has no FTS5 full-text index: text search scans every row (slow on large "
             "stores; a Python built with a current SQLite has it)")


def _text(col: str) -> str:
    return TEXT_SQL.format(col=col)


def has_index(con: sqlite3.Connection) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE name = 'rows_fts'").fetchone() is not None


def _trigger(sql: str) -> str:
    return sql.format(new_m=_text("new.messages"), new_f=_text("new.fixed_messages"), old_m=_text("old.messages"),
                      old_f=_text("old.fixed_messages"))


def _index_rows(con: sqlite3.Connection, after_rowid: int) -> None:
    con.execute(f"INSERT INTO rows_fts(rowid, imported, fixed) SELECT rowid, {_text('messages')}, "
                f"{_text('fixed_messages')} FROM rows WHERE rowid > ?", (after_rowid,))


def install(con: sqlite3.Connection) -> bool:
    """Create the index and its triggers and index every row already stored (inside the caller's
    transaction); returns False, creating nothing, when this SQLite has no FTS5."""
    if not AVAILABLE:
        return False
    con.execute(CREATE)
    con.execute(_trigger(INSERT_TRIGGER))
    con.execute(_trigger(UPDATE_TRIGGER))
    _index_rows(con, 0)
    return True


@contextmanager
def bulk_insert(con: sqlite3.Connection) -> Iterator[None]:
    """Inside the caller's transaction: rows inserted in this block are indexed in one statement at its
    end, not one by one by the insert trigger (3x faster for a large import: FTS5 gathers the terms of
    one statement before it writes them). An error leaves the trigger dropped: the caller's rollback
    restores it."""
    if not has_index(con):
        yield
        return
    # New rows get rowids above the largest one (rows are never deleted but all at once, by a carry-over).
    after = con.execute("SELECT coalesce(max(rowid), 0) FROM rows").fetchone()[0]
    con.execute("DROP TRIGGER rows_fts_insert")
    yield
    _index_rows(con, after)
    con.execute(_trigger(INSERT_TRIGGER))


def ensure(con: sqlite3.Connection) -> None:
    """Make the store's index agree with this SQLite (called on every connect): build it for a store
    migrated where FTS5 was missing. Raises :class:`StoreVersionError` for a store with an index that
    this SQLite cannot update (its triggers would fail every decision)."""
    present = has_index(con)
    if present and not AVAILABLE:
        raise StoreVersionError("this review store has a full-text index (FTS5), but this Python's SQLite lacks "
                                "FTS5 and could not keep it up to date: open the store with a Python whose "
                                "SQLite has FTS5")
    if AVAILABLE and not present:
        con.execute("BEGIN IMMEDIATE")
        try:
            if not has_index(con):  # another process may have built it meanwhile
                install(con)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")


def clear(con: sqlite3.Connection) -> None:
    """Empty the index before every row is deleted (a carry-over moves them to ``retired_rows``)."""
    if has_index(con):
        con.execute("INSERT INTO rows_fts(rows_fts) VALUES ('delete-all')")


def match_query(text: str) -> str:
    """``text`` as one FTS5 phrase, quoted with its double quotes doubled, so no user text is FTS syntax.
    When ``text`` ends in a letter or digit its last word may be the start of a word (``"photo synth"*``
    finds "photo synthesis": results while typing); ``C++`` is the finished word ``c``, not every c-word."""
    phrase = '"' + text.replace('"', '""') + '"'
    return phrase + "*" if text[-1:].isalnum() else phrase


def uses_index(text: str) -> bool:
    """Whether a search for ``text`` can use the index: FTS5 is here, ``text`` has a letter or digit
    (punctuation alone is no word to look up) and no letter of a script written without spaces."""
    if not AVAILABLE or not any(ch.isalnum() for ch in text):
        return False
    return not any(unicodedata.name(ch, "").startswith(_UNSPACED) for ch in text if ch.isalpha())


def clause(text: str) -> tuple[str, list]:
    """SQL condition on ``rows`` and its arguments: rows whose text (imported or fixed) holds ``text``.

    Through the index: the words of ``text`` in this order, case and accents ignored, the last one maybe
    cut short. Otherwise (see :func:`uses_index`): ``text`` as a substring, case ignored (ASCII letters),
    looked for in the stored JSON as JSON writes it, so ``"`` finds a quote in the text, not the quotes
    of the JSON itself."""
    if uses_index(text):
        return "rowid IN (SELECT rowid FROM rows_fts WHERE rows_fts MATCH ?)", [match_query(text)]
    in_json = json.dumps(text, ensure_ascii=False)[1:-1]
    return ("(instr(lower(prompt), lower(?)) > 0 OR instr(lower(messages), lower(?)) > 0 "
            "OR instr(lower(coalesce(fixed_messages, '')), lower(?)) > 0)"), [text, in_json, in_json]
