"""Which languages a row may be in: pinned by ``signals.languages``, or read from the data.

By default each input file's own language mix decides: the languages of at least
``signals.language_min_share`` of its rows (in the prompt or the response) are
that file's expected set. So a Chinese file is judged as Chinese and an English one as English, and a
file that is 86% English though named Chinese shows up in the mix rather than in 16,000 review rows.
A prompt that asks for a translation may be answered in any language; a response in its prompt's
language is never unexpected (the prompt is judged on its own); and a text with a few characters in the
script of an expected non-Latin language (:data:`SCRIPTS`) counts as written in it, so a Chinese
instruction that quotes an English sentence is a Chinese prompt.
"""

from __future__ import annotations

import polars as pl

from curate.signals.language import SCRIPTS
from schemas.config import SignalsConfig


def language_mix(frame: pl.DataFrame) -> pl.DataFrame:
    """Per ``source_file`` and language: ``rows`` using it (in the prompt or the response) and their
    ``share`` of the file's rows with any known language, largest first."""
    per_row = (frame.select("source_file", "row_idx", lang=pl.concat_list("lang_prompt", "lang_response"))
               .explode("lang").drop_nulls("lang").unique(["row_idx", "lang"]))
    known = per_row.group_by("source_file").agg(known=pl.col("row_idx").n_unique())
    return (per_row.group_by("source_file", "lang").len("rows").join(known, on="source_file")
            .with_columns(share=pl.col("rows") / pl.col("known")).drop("known")
            .sort(["source_file", "rows", "lang"], descending=[False, True, False]))


def expected_languages(frame: pl.DataFrame, sc: SignalsConfig) -> tuple[dict[str, list[str]], dict[str, dict[str, float]]]:
    """Each file's expected languages and its mix ({file: {lang: share}}): the one place both are decided,
    for the rules, the summary and the manifest. Pinned ``signals.languages`` apply to every file; a file
    with fewer than ``signals.language_min_rows`` rows is judged by the mix of all inputs together."""
    mix = language_mix(frame)
    shares = {f: dict(zip(g["lang"].to_list(), g["share"].to_list()))
              for (f,), g in mix.group_by("source_file", maintain_order=True)}
    files = frame["source_file"].unique(maintain_order=True).to_list()
    if sc.languages:
        return {f: list(sc.languages) for f in files}, shares
    rows = dict(frame.group_by("source_file").len().iter_rows())
    everything = language_mix(frame.with_columns(source_file=pl.lit("*")))
    overall = [lang for lang, x in zip(everything["lang"], everything["share"]) if x >= sc.language_min_share]
    expected = {f: ([lang for lang, x in shares.get(f, {}).items() if x >= sc.language_min_share]
                    if rows.get(f, 0) >= sc.language_min_rows else overall) for f in files}
    return expected, shares


def with_expected_languages(frame: pl.DataFrame, sc: SignalsConfig,
                            expected: dict[str, list[str]] | None = None) -> pl.DataFrame:
    """Add ``expected_langs`` (list of language codes) to every row (see :func:`expected_languages`);
    ``expected``: the languages decided already on the whole data set (a frame that is one part of it)."""
    if expected is None:
        expected, _ = expected_languages(frame, sc)
    table = pl.DataFrame({"source_file": list(expected), "expected_langs": list(expected.values())},
                         schema={"source_file": pl.String, "expected_langs": pl.List(pl.String)})
    return frame.join(table, on="source_file", how="left", maintain_order="left").with_columns(
        pl.col("expected_langs").fill_null(pl.lit([], pl.List(pl.String))))


def in_expected_script(col: str, langs: list[str], min_chars: int) -> pl.Expr:
    """True where ``col`` holds at least ``min_chars`` characters of the script of one of the row's
    expected languages (only languages with a script of their own; ``langs``: all that may occur)."""
    conds = [pl.col("expected_langs").list.contains(pl.lit(lang)) & (pl.col(col).str.count_matches(SCRIPTS[lang])
                                                                     >= min_chars)
             for lang in sorted(set(langs) & set(SCRIPTS))]
    return pl.any_horizontal(conds) if conds else pl.lit(False)


def expected_candidates(frame: pl.DataFrame) -> list[str]:
    """Every language that is expected somewhere in ``frame``."""
    return frame["expected_langs"].explode().drop_nulls().unique().to_list()


# A run of four Latin-script words: the prompt quotes or contains text in a Latin-script language.
_LATIN_RUN = r"(?:\p{Latin}{2,}[\s,.'’\-]+){3}\p{Latin}{2,}"


def response_lang_in_prompt(min_chars: int) -> pl.Expr:
    """True where the prompt holds text in the response's language: ``min_chars`` characters of its own
    script (Han, Hangul, Cyrillic, ...) or, for a Latin-script language, a run of four Latin words. Then a
    response in that language follows the prompt (an English sentence to rewrite, in a Chinese prompt)."""
    by_script = [(pl.col("lang_response") == lang) & (pl.col("prompt").str.count_matches(pattern) >= min_chars)
                 for lang, pattern in SCRIPTS.items()]
    latin = ~pl.col("lang_response").is_in(list(SCRIPTS)) & pl.col("prompt").str.contains(_LATIN_RUN)
    return pl.any_horizontal(*by_script, latin).fill_null(False)
