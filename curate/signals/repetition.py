"""Repetition signals: repeated lines, the most common word 3-gram, and runs of one character."""

from __future__ import annotations

import numpy as np
import polars as pl

REPETITION_COLUMNS = {
    "dup_line_share": "share of the response's lines (of 10+ characters) that repeat an earlier line",
    "top_ngram_share": "share of the response's word 3-grams taken by its most common 3-gram",
    "max_char_run": "longest run of one repeated non-space character in the response",
}


def repetition_signals() -> list[pl.Expr]:
    # Lines of at least 10 characters: short lines ("},", "end") legitimately repeat in code and lists.
    lines = pl.col("response").str.split("\n").list.eval(
        pl.element().str.strip_chars().filter(pl.element().str.strip_chars().str.len_chars() >= 10))
    words = pl.col("response").str.to_lowercase().str.extract_all(r"\w+")
    trigrams = words.list.eval(
        pl.concat_str([pl.element(), pl.element().shift(-1), pl.element().shift(-2)], separator=" ").drop_nulls())
    top = trigrams.list.eval(pl.element().unique_counts().max()).list.first().fill_null(0)
    return [
        pl.when(lines.list.len() > 0).then(1 - lines.list.n_unique() / lines.list.len()).otherwise(0.0).alias("dup_line_share"),
        (top / trigrams.list.len().clip(lower_bound=1)).fill_null(0.0).alias("top_ngram_share"),
        pl.col("response").map_batches(max_char_run, return_dtype=pl.Int64).alias("max_char_run"),
    ]


def max_char_run(texts: pl.Series) -> pl.Series:
    """Longest run of one repeated non-whitespace character per text, vectorised over code points.

    (polars' regex engine has no back-references, so ``(.)\\1+`` is computed with numpy instead.)
    """
    values = texts.fill_null("").to_list()
    lengths = np.fromiter((len(t) for t in values), dtype=np.int64, count=len(values))
    out = np.zeros(len(values), dtype=np.int64)
    if lengths.sum() == 0:
        return pl.Series(out)
    cps = np.frombuffer("".join(values).encode("utf-32-le"), dtype=np.uint32)
    starts = np.zeros(len(values), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    is_space = np.isin(cps, np.array([9, 10, 13, 32, 0xA0, 0x3000], dtype=np.uint32))
    same = np.r_[False, cps[1:] == cps[:-1]] & ~is_space
    same[starts[starts < len(cps)]] = False  # a run never continues across two texts
    # run length at each position = positions since the last break, + 1
    idx = np.arange(len(cps))
    last_break = np.maximum.accumulate(np.where(same, 0, idx))
    run = np.where(is_space, 0, idx - last_break + 1)
    nonempty = lengths > 0
    out[nonempty] = np.maximum.reduceat(run, starts[nonempty])
    return pl.Series(out)
