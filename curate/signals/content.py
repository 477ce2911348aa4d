"""Content signals: refusals, placeholders, external references, echoes, junk and truncation."""

from __future__ import annotations

import polars as pl

from curate.signals.patterns import pattern

CONTENT_COLUMNS = {
    "refusal": "the response contains a refusal or AI boilerplate phrase (patterns/refusal.txt)",
    "placeholder_prompt": "the prompt holds an unfilled placeholder such as <noinput> or {{name}}",
    "placeholder_response": "the response holds an unfilled placeholder",
    "external_reference": "the prompt depends on a URL or attachment the model cannot see",
    "echo_similarity": "1.0 when the folded response equals the folded prompt or starts by repeating it",
    "junk_share": "share of response characters that are symbols: not letters, marks, digits, whitespace or . , ; : ! ? ' \" ( ) -",
    "truncated": "the response ends mid-sentence (a long last line ending on a lowercase letter or comma), "
                 "or has an odd number of code fences or more opening than closing brackets",
}

# Mid-sentence: the text ends on a lowercase letter or a comma, and its last line is a long one
# (list items and headings end without a full stop and are not truncation).
_CUT = r"(?:^|\n)[^\n]*(?:\S+[ \t]+){9,}[^\n]*[\p{Ll},][ \t]*$"


def content_signals(truncation_min_words: int | None) -> list[pl.Expr]:
    resp = pl.col("response")
    fences_odd = (resp.str.count_matches("```") % 2) == 1
    open_minus_close = (resp.str.count_matches(r"[(\[{]") - resp.str.count_matches(r"[)\]}]"))
    mid_sentence = resp.str.contains(_CUT)
    if truncation_min_words is None:
        long_cut = pl.lit(False)
    else:
        long_cut = mid_sentence & (resp.str.count_matches(r"\S+") >= truncation_min_words)
    non_empty = resp.str.strip_chars() != ""
    # A response that opens by restating the prompt and adds little (< 30% more text) echoes it.
    starts_with_prompt = ((pl.col("norm_prompt").str.len_chars() >= 20)
                          & pl.col("norm_response").str.starts_with(pl.col("norm_prompt"))
                          & (pl.col("norm_response").str.len_chars() < 1.3 * pl.col("norm_prompt").str.len_chars()))
    return [
        resp.str.contains(pattern("refusal")).alias("refusal"),
        pl.col("prompt").str.contains(pattern("placeholder")).alias("placeholder_prompt"),
        resp.str.contains(pattern("placeholder")).alias("placeholder_response"),
        pl.col("prompt").str.contains(pattern("external")).alias("external_reference"),
        pl.when(non_empty & ((pl.col("norm_response") == pl.col("norm_prompt")) | starts_with_prompt))
        .then(1.0).otherwise(0.0).alias("echo_similarity"),
        (resp.str.count_matches(r"[^\p{L}\p{M}\p{N}\s.,;:!?'\"()\-]") / resp.str.len_chars().clip(lower_bound=1))
        .alias("junk_share"),
        (non_empty & (fences_odd | (open_minus_close > 0) | long_cut)).alias("truncated"),
    ]
