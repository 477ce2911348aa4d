"""Held-out rows: a content key per conversation, the default eval split, and the removal of eval rows
from every training arm by that key.

Row ids cannot do this job: a row re-read from ``curated.jsonl`` by another tool, or copied into another
file, gets another id, and the random-rows baseline reads the raw input, where the same conversation has
its raw id. The content of the conversation is the same everywhere, so that is what is compared.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable

_SPACE = re.compile(r"\s+")


def content_key(messages: Iterable[dict]) -> str:
    """A hash of the normalised conversation: roles lower-cased, contents folded to Unicode compatibility
    form, case-folded and with whitespace collapsed.

    Looser than curate's dedup key on purpose: a false match here only removes one training row, while a
    missed match lets a model train on its own test."""
    norm = [[m["role"].strip().lower(), _SPACE.sub(" ", unicodedata.normalize("NFKC", m["content"] or "")
                                                     .casefold()).strip()] for m in messages]
    return hashlib.sha1(json.dumps(norm, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()


def split_eval(rows: list[dict], eval_size: int, seed: int) -> tuple[list[dict], list[dict]]:
    """A fixed held-out split, ranked by a seeded hash of each row's content (so neither row order nor
    row ids move it): (train, eval). A training row with the same content as an eval row is left out too."""
    ranked = sorted(rows, key=lambda r: hashlib.sha1(f"{seed}:{content_key(r['messages'])}".encode()).hexdigest())
    evals = ranked[:eval_size]
    train, _ = without(ranked[eval_size:], {content_key(r["messages"]) for r in evals})
    return train, evals


def without(rows: list[dict], held: set[str]) -> tuple[list[dict], int]:
    """``rows`` less those whose content key is in ``held``, and how many were left out."""
    kept = [r for r in rows if content_key(r["messages"]) not in held]
    return kept, len(rows) - len(kept)
