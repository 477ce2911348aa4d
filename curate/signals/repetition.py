"""Repetition signals: repeated lines, the most common word 3-gram, and runs of one character."""

from __future__ import annotations

import numpy as np
import polars as pl

REPETITION_COLUMNS = {
    "dup_line_share": "share of the response's lines (of 10+ characters) that repeat an earlier line",
    "top_ngram_share": "share of the response's word 3-grams taken by its most common 3-gram (characters in Chinese/Japanese)",
    "max_char_run": "longest run of one repeated non-space character in the response",
}


def repetition_signals() -> list[pl.Expr]:
    # Lines of at least 10 characters: short lines ("},", "end") legitimately repeat in code and lists.
    lines = pl.col("response").str.split("\n").list.eval(
        pl.element().str.strip_chars().filter(pl.element().str.strip_chars().str.len_chars() >= 10))
    return [
        pl.when(lines.list.len() > 0).then(1 - lines.list.n_unique() / lines.list.len()).otherwise(0.0).alias("dup_line_share"),
        pl.col("response").map_batches(top_ngram_share, return_dtype=pl.Float64).alias("top_ngram_share"),
        pl.col("response").map_batches(max_char_run, return_dtype=pl.Int64).alias("max_char_run"),
    ]


_SPACES = np.array([9, 10, 11, 12, 13, 32, 0x85, 0xA0, 0x3000], dtype=np.uint32)


def max_char_run(texts: pl.Series) -> pl.Series:
    """Longest run of one repeated non-whitespace character per text."""
    from curate.signals.kernels import max_run_kernel

    values = texts.fill_null("")
    lengths = values.str.len_chars().cast(pl.Int64).to_numpy()
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    cps = np.frombuffer(values.str.join("").item().encode("utf-32-le"), dtype=np.uint32)
    return pl.Series(max_run_kernel(cps, offsets, _SPACES))


def top_ngram_share(texts: pl.Series) -> pl.Series:
    """Share of each text's word 3-grams taken by its most common one (words: lower-cased ``\\w+``;
    in Chinese and Japanese text each character is a word, :data:`curate.scripts.TOKEN`)."""
    from curate.scripts import TOKEN
    from curate.signals.kernels import top_trigram_share_kernel

    words = texts.fill_null("").str.to_lowercase().str.extract_all(TOKEN)
    offsets = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(words.list.len().fill_null(0).cast(pl.Int64).to_numpy(), out=offsets[1:])
    hashes = words.explode().drop_nulls().hash(seed=11).to_numpy()
    return pl.Series(top_trigram_share_kernel(hashes, offsets))
