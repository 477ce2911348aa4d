"""Quality signals: small functions that add documented columns to the frame.

Families: :mod:`.length`, :mod:`.content` (refusal, placeholders, external references, echo, junk,
truncation), :mod:`.repetition`, :mod:`.pii`, :mod:`.language`, :mod:`.readability`. Every column a
signal adds is listed in ``SIGNAL_COLUMNS`` with its meaning; the report and docs read that table.
"""

from curate.model_signals import COLUMNS as MODEL_COLUMNS
from curate.signals.content import CONTENT_COLUMNS, content_signals
from curate.signals.length import LENGTH_COLUMNS, length_signals
from curate.signals.pii import PII_COLUMNS, pii_signals
from curate.signals.repetition import REPETITION_COLUMNS, repetition_signals

SIGNAL_COLUMNS: dict[str, str] = {
    **LENGTH_COLUMNS, **CONTENT_COLUMNS, **REPETITION_COLUMNS, **PII_COLUMNS,
    "response_reuse": "number of distinct prompts answered with exactly this (folded) response",
    "lang_prompt": "language of the prompt (ISO 639-1; null when too short to tell; the script settles zh/ja/ko)",
    "lang_prompt_score": "confidence of the prompt language, 0-1",
    "lang_response": "language of the response without its code lines (ISO 639-1; null when too short to tell)",
    "lang_response_score": "confidence of the response language, 0-1",
    "readability": "Flesch reading ease of the response (higher is easier); null unless the response is English, "
                   "the only language the formula is defined for",
    "contamination_eval_id": "id of the eval row whose prompt this row's prompt matches or overlaps",
    "contamination_overlap": "share of that eval prompt's word n-grams found in this prompt (1.0 = contained)",
    **MODEL_COLUMNS,
}

__all__ = ["SIGNAL_COLUMNS", "content_signals", "length_signals", "pii_signals", "repetition_signals"]
