"""JSON text as input rows come in it: strict parsing, element boundaries, wrappers, concatenations.

Kept apart from :mod:`curate.readers` (which turns files into rows and quarantine records): these are
the pure functions over JSON text that the readers build on.
"""

from __future__ import annotations

import json
import math
from typing import Any

WRAPPER_KEYS = ("data", "rows", "examples", "train", "items", "records", "instances", "conversations")


class DuplicateKeyError(ValueError):
    """An object names one key twice: readers disagree on which value wins, so the row is quarantined."""

    def __init__(self, key: str):
        super().__init__(f"the key '{key}' appears twice in one object (which value is meant is ambiguous)")
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKeyError(key)
        obj[key] = value
    return obj


STRICT = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=lambda name: None)
_PLAIN = json.JSONDecoder(parse_constant=lambda name: None)


def loads(text: str) -> Any:
    """``json.loads`` for input rows: NaN and Infinity become null (they are not JSON, and no output may
    carry them); a repeated key raises :class:`DuplicateKeyError`."""
    return STRICT.decode(text)


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float (CSV, Parquet) replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def element_end(text: str, pos: int) -> int:
    """Where the JSON value starting at ``pos`` ends, by bracket depth and string escapes alone (no
    parsing, so it works on values too deep or too odd for the decoder). ``len(text)`` if it never does."""
    depth, i, n = 0, pos, len(text)
    in_str = False
    while i < n:
        ch = text[i]
        if in_str:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_str = False
                if depth == 0:
                    return i + 1
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth <= 0:
                return i + 1
        elif depth == 0 and ch in ",\n":
            return i
        i += 1
    return n


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def top_level_values(text: str) -> dict[str, int] | None:
    """Start offsets of the values of a top-level JSON object's keys (``None`` when ``text`` does not
    open with an object whose keys can be walked). Values are skipped with :func:`element_end`, so one
    broken row inside a wrapper's list does not hide the list."""
    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] != "{":
        return None
    out: dict[str, int] = {}
    pos = _skip_ws(text, pos + 1)
    while pos < len(text) and text[pos] == '"':
        try:
            key, pos = _PLAIN.raw_decode(text, pos)
        except json.JSONDecodeError:
            return None
        pos = _skip_ws(text, pos)
        if pos >= len(text) or text[pos] != ":":
            return None
        pos = _skip_ws(text, pos + 1)
        out[str(key)] = pos
        pos = _skip_ws(text, element_end(text, pos))
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
    return out


def wrapped_array(text: str, is_row) -> int | None:
    """Where the list of rows starts in ``{"data": [...]}``-style wrappers: the top-level key among
    :data:`WRAPPER_KEYS` (or the only top-level list of objects) whose value is a list. ``None`` when
    ``text`` is no wrapper, or is itself one row (``is_row(obj)``)."""
    values = top_level_values(text)
    if not values:
        return None
    try:
        whole = loads(text)
    except (ValueError, RecursionError):
        whole = None
    if isinstance(whole, dict) and is_row(whole):
        return None
    lists = [k for k, p in values.items() if p < len(text) and text[p] == "["]
    key = next((k for k in WRAPPER_KEYS if k in lists), lists[0] if len(lists) == 1 else None)
    if key is None or (whole is None and key not in WRAPPER_KEYS):
        return None
    return values[key]


def concatenated(text: str) -> list[tuple[int, Any]] | None:
    """Objects written one after another (``jq .`` output: pretty-printed, not one per line), each with
    the line it starts on; ``None`` when ``text`` is not that (the caller reads it as JSONL)."""
    out, pos, n = [], _skip_ws(text, 0), len(text)
    while pos < n:
        if text[pos] != "{":
            return None
        try:
            obj, end = STRICT.raw_decode(text, pos)
        except (ValueError, RecursionError):
            return None
        out.append((text.count("\n", 0, pos) + 1, obj))
        pos = _skip_ws(text, end)
    return out if len(out) > 1 else None


__all__ = ["DuplicateKeyError", "STRICT", "WRAPPER_KEYS", "concatenated", "element_end", "finite", "loads",
           "top_level_values", "wrapped_array"]
