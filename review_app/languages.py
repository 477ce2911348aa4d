"""Languages and scripts on the review screen: the run's language mix per input file, and the Unicode
scripts a row is written in (for the Script filter). Plain functions; they never import streamlit.

A row's scripts are stored as a bit mask (``rows.scripts``), computed once at import (and by migration
4 for rows stored before), so the Script filter is one integer test in the queue's SQL: SQLite has no
Unicode-script regex, and decoding every row's JSON per click would slow the next row on a 52k run.
"""

from __future__ import annotations

import json

from review_app.migrations import relative_path, source_root

# The scripts a reviewer can filter by, each a Unicode script regex (Rust regex syntax, run by polars).
# A row has a script when its prompt or response holds at least one letter of it: one Han character in
# an English answer is worth a look. "Other" is any letter of a script not listed (Greek, Hebrew, Thai,
# Devanagari, ...; a lone "π" in a formula counts, as it is a Greek letter).
_LISTED = r"\p{Latin}\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Cyrillic}\p{Arabic}"
SCRIPTS: dict[str, str] = {
    "Latin": r"\p{Latin}",
    "Han": r"\p{Han}",  # Chinese characters and Japanese kanji alike: the script cannot tell them apart
    "Kana": r"[\p{Hiragana}\p{Katakana}]",  # Japanese only
    "Hangul": r"\p{Hangul}",
    "Cyrillic": r"\p{Cyrillic}",
    "Arabic": r"\p{Arabic}",
    "Other": rf"[\p{{L}}--[{_LISTED}]]",
}
# Bit i of rows.scripts is the i-th script above. Stored in review stores: append new scripts at the
# end, never reorder (a reorder would silently change what every stored mask means).
SCRIPT_BITS: dict[str, int] = {name: 1 << i for i, name in enumerate(SCRIPTS)}


def script_mask(text):
    """A polars expression: the bit mask (:data:`SCRIPT_BITS`) of the scripts in the string expression
    ``text`` (null text: 0)."""
    import polars as pl

    return pl.sum_horizontal(text.fill_null("").str.contains(rx).cast(pl.Int64) * SCRIPT_BITS[name]
                             for name, rx in SCRIPTS.items())


def conversation_text(messages):
    """A polars expression: the contents of a ``messages`` list column (role/content structs) joined
    by newlines, so the roles' own names never count as Latin text."""
    import polars as pl

    return messages.list.eval(pl.element().struct.field("content")).list.join("\n")


def masks(texts: list[str]) -> list[int]:
    """The script mask of each text (see :func:`script_mask`)."""
    import polars as pl

    return pl.DataFrame({"t": texts}, schema={"t": pl.String}).select(m=script_mask(pl.col("t")))["m"].to_list()


def message_masks(stored: list[str]) -> list[int]:
    """The script mask of each stored ``messages`` JSON (a list of role/content objects)."""
    return masks(["\n".join(str(m.get("content") or "") for m in json.loads(s)) for s in stored])


def script_names(mask: int) -> list[str]:
    """The scripts a mask holds, in :data:`SCRIPTS` order."""
    return [name for name, bit in SCRIPT_BITS.items() if mask & bit]


def language_mix_lines(manifest: dict | None) -> list[str]:
    """The run's language mix as text: one line per input file (relative to the inputs' common folder),
    its languages with their share of the file's rows, largest first, the expected ones marked ``*``
    (an expected language the file does not use is listed at 0%). Then how the expected set was chosen.
    A manifest without a mix (made before Sieve recorded it) gives one line saying so."""
    mix = (manifest or {}).get("languages")
    if not mix:
        return ["This run's manifest has no language mix (it was curated before Sieve recorded one): run "
                "`sieve curate` again to see it."]
    expected = manifest.get("expected_languages") or {}
    root = source_root([i.get("path", "") for i in manifest.get("inputs", [])] + list(mix))
    lines = []
    for file, shares in mix.items():
        marked = set(expected.get(file, []))
        parts = [f"{lang}{'*' if lang in marked else ''} {share:.1%}" for lang, share in shares.items()]
        parts += [f"{lang}* 0.0%" for lang in expected.get(file, []) if lang not in shares]
        lines.append(f"{relative_path(file, root)}: {' · '.join(parts) or '(no language detected)'}")
    signals = (manifest.get("config") or {}).get("signals") or {}
    if signals.get("languages"):
        how = f"pinned by signals.languages = {json.dumps(signals['languages'])}"
    elif signals.get("language_min_share") is not None:
        how = f"those on at least {signals['language_min_share']:.0%} of a file's rows"
        if signals.get("language_min_rows"):
            how += f"; a file of fewer than {signals['language_min_rows']:,} rows is judged by all inputs' mix"
    else:
        how = "as the run's manifest records them"
    lines.append(f"* expected languages ({how}); a share is of the file's rows with a detected language, in "
                 "the prompt or the response, so a file's shares can add up to more than 100%.")
    return lines
