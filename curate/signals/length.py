"""Length signals: characters, words and approximate tokens of prompt and response."""

from __future__ import annotations

import polars as pl

CHARS_PER_TOKEN = 4.0  # the usual rule of thumb for English BPE vocabularies; exact counts need a tokenizer

LENGTH_COLUMNS = {
    "prompt_chars": "characters in the prompt (all user turns)",
    "response_chars": "characters in the response (all assistant turns)",
    "prompt_words": "whitespace-separated words in the prompt",
    "response_words": "whitespace-separated words in the response",
    "prompt_tokens": "approximate tokens in the prompt (chars / 4)",
    "response_tokens": "approximate tokens in the response (chars / 4)",
    "response_empty": "the response is empty or whitespace only",
}


def _words(col: str) -> pl.Expr:
    return pl.col(col).str.count_matches(r"\S+")


def length_signals() -> list[pl.Expr]:
    return [
        pl.col("prompt").str.len_chars().alias("prompt_chars"),
        pl.col("response").str.len_chars().alias("response_chars"),
        _words("prompt").alias("prompt_words"),
        _words("response").alias("response_words"),
        (pl.col("prompt").str.len_chars() / CHARS_PER_TOKEN).ceil().cast(pl.Int64).alias("prompt_tokens"),
        (pl.col("response").str.len_chars() / CHARS_PER_TOKEN).ceil().cast(pl.Int64).alias("response_tokens"),
        (pl.col("response").str.strip_chars() == "").alias("response_empty"),
    ]
