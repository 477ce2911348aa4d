"""Length signals: characters, words and approximate tokens of prompt and response."""

from __future__ import annotations

import polars as pl

from curate.scripts import tokens, words

LENGTH_COLUMNS = {
    "prompt_chars": "characters in the prompt (all user turns)",
    "response_chars": "characters in the response (all assistant turns)",
    "prompt_words": "words in the prompt: whitespace-separated, with Chinese/Japanese characters counted 1.5 to a word",
    "response_words": "words in the response, counted as for prompt_words",
    "prompt_tokens": "approximate tokens in the prompt (other chars / 4, plus one per Chinese/Japanese character)",
    "response_tokens": "approximate tokens in the response (as for prompt_tokens)",
    "response_empty": "the response is empty or whitespace only",
}


def length_signals() -> list[pl.Expr]:
    return [
        pl.col("prompt").str.len_chars().alias("prompt_chars"),
        pl.col("response").str.len_chars().alias("response_chars"),
        words(pl.col("prompt")).alias("prompt_words"),
        words(pl.col("response")).alias("response_words"),
        tokens(pl.col("prompt")).alias("prompt_tokens"),
        tokens(pl.col("response")).alias("response_tokens"),
        (pl.col("response").str.strip_chars() == "").alias("response_empty"),
    ]
