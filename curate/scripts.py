"""Per-script text measures for scripts written without spaces (Chinese, Japanese kana and kanji).

A whitespace word or a character means different things across scripts: "草莓、蓝莓、覆盆子" is one
whitespace "word" of eight characters. These expressions count CJK characters on their own and
everything else as before, so English text measures exactly what it did.
"""

from __future__ import annotations

import polars as pl

CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
CJK_PUNCT = r"\u3000-\u303f\uff00-\uffef"
# Tokens for n-gram statistics: every CJK character alone, and runs of other word characters.
TOKEN = rf"[{CJK}]|[\w--[{CJK}]]+"
# Chinese words average about 1.5 characters (segmented corpora such as SIGHAN's): a word count for
# scripts without spaces, without a segmenter.
CHARS_PER_CJK_WORD = 1.5
CHARS_PER_TOKEN = 4.0  # English BPE rule of thumb; a CJK character is about one token on its own


def cjk_chars(expr: pl.Expr) -> pl.Expr:
    return expr.str.count_matches(rf"[{CJK}]")


def words(expr: pl.Expr) -> pl.Expr:
    """Whitespace-separated words outside CJK text, plus CJK characters / 1.5."""
    other = expr.str.count_matches(rf"[^\s{CJK}{CJK_PUNCT}]+")
    return (other + (cjk_chars(expr) / CHARS_PER_CJK_WORD).ceil()).cast(pl.Int64)


def tokens(expr: pl.Expr) -> pl.Expr:
    """Approximate model tokens: other characters / 4, plus one per CJK character."""
    cjk = cjk_chars(expr)
    return (((expr.str.len_chars() - cjk) / CHARS_PER_TOKEN).ceil() + cjk).cast(pl.Int64)


def weighted_chars(expr: pl.Expr, cjk_weight: float) -> pl.Expr:
    """Characters with each CJK character counted ``cjk_weight`` times: what a length minimum compares."""
    cjk = cjk_chars(expr)
    return expr.str.len_chars() - cjk + cjk * cjk_weight
