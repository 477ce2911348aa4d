"""A row's quality signals as a few lines of text for the review screen. Plain functions; they never
import streamlit.

The store keeps each row's signal columns of ``annotated.parquet`` as one JSON object (``rows.signals``,
see :func:`signal_struct`); :func:`signal_lines` turns it into compact lines, one per family, so a
reviewer sees why a row scored as it did next to the reason codes' plain words.
"""

from __future__ import annotations

import json

from curate.signals import SIGNAL_COLUMNS

# Every documented signal column, and two more a reviewer needs beside them when the documented list
# lacks them: the prompt language's confidence and a near duplicate's exact similarity. Deduplicated: a
# column stored twice makes the import's select fail.
STORED = list(dict.fromkeys([*SIGNAL_COLUMNS, "lang_prompt_score", "near_similarity"]))
FLAG_WORDS = {
    "response_empty": "empty response", "refusal": "refusal or AI boilerplate", "placeholder_prompt":
    "placeholder in prompt", "placeholder_response": "placeholder in response", "external_reference":
    "refers to a link or attachment", "translation_prompt": "translation prompt", "truncated": "cut off mid-thought",
    "code_prompt": "prompt asks for code or a formula (junk share not judged)",
}
PII_WORDS = {"pii_email": "e-mail address", "pii_phone": "phone number", "pii_ip": "IP address", "pii_card": "card number"}
SHOWN = {"prompt_chars", "response_chars", "prompt_words", "response_words", "prompt_tokens", "response_tokens",
         "echo_similarity", "junk_share", "dup_line_share", "top_ngram_share", "max_char_run", "response_reuse",
         "lang_prompt", "lang_prompt_score", "lang_response", "lang_response_score", "readability", "near_similarity",
         "contamination_eval_id", "contamination_overlap", *FLAG_WORDS, *PII_WORDS}
_FLOATISH = {"echo_similarity", "junk_share", "dup_line_share", "top_ngram_share", "lang_response_score",
             "lang_prompt_score", "readability", "near_similarity", "contamination_overlap"}


def signal_struct(columns: list[str]):
    """A polars expression: the stored signal columns among ``columns`` as one JSON string per row
    (floats rounded to 4 places: the screen shows 2, and the store stays small on a 52k run)."""
    import polars as pl

    present = [c for c in STORED if c in columns]
    fields = [pl.col(c).round(4) if c in _FLOATISH else pl.col(c) for c in present]
    return pl.struct(fields).struct.json_encode()



def _pct(v) -> str:
    return "?" if v is None else f"{v:.0%}"


def _num(v, fmt: str = ".2f") -> str:
    return "?" if v is None else format(v, fmt)


def _lang(code, score) -> str:
    return "? (too short to tell)" if code is None else f"{code} {_num(score)}"


def signal_lines(signals: str | dict | None) -> list[str]:
    """Compact lines (length, content, repetition, personal data, language, duplicates, contamination,
    and any signal this screen does not know yet) for a row's stored signals; one line saying they are
    missing when the row was imported before the store kept them."""
    if not signals:
        return ["signals: not in this store (it was made before Sieve kept them): open the run again with "
                "`sieve review RUN_DIR` to import them"]
    s = json.loads(signals) if isinstance(signals, str) else signals
    g = s.get
    lines = [
        f"length: prompt {g('prompt_words', '?')} words, {g('prompt_chars', '?')} chars, ~{g('prompt_tokens', '?')} "
        f"tokens · response {g('response_words', '?')} words, {g('response_chars', '?')} chars, "
        f"~{g('response_tokens', '?')} tokens",
        f"content: junk (symbols) {_pct(g('junk_share'))} · echo of prompt {_num(g('echo_similarity'))} · "
        f"flags: {', '.join(w for k, w in FLAG_WORDS.items() if g(k)) or 'none'}",
        f"repetition: repeated lines {_pct(g('dup_line_share'))} · top 3-gram {_pct(g('top_ngram_share'))} · "
        f"longest char run {g('max_char_run', '?')} · same response for {g('response_reuse', '?')} prompt(s)",
        f"personal data: {', '.join(w for k, w in PII_WORDS.items() if g(k)) or 'none found'}",
        f"language: prompt {_lang(g('lang_prompt'), g('lang_prompt_score'))} · response "
        f"{_lang(g('lang_response'), g('lang_response_score'))} · readability (Flesch) {_num(g('readability'), '.1f')}",
    ]
    if g("near_similarity") is not None:
        lines.append(f"near duplicate: exact similarity {g('near_similarity'):.2f} with the kept row")
    if g("contamination_eval_id") is not None:
        lines.append(f"eval match: eval id {g('contamination_eval_id')} · overlap {_pct(g('contamination_overlap'))}")
    other = {k: v for k, v in s.items() if k not in SHOWN}
    if other:
        lines.append("other signals: " + " · ".join(f"{k} {v}" for k, v in other.items()))
    return lines
