"""Read raw rows out of instruction-data files, never losing one silently.

Each reader returns ``RawRows``: the objects that parsed, each with its 1-based line, and quarantine
records for what did not parse (file, line, column, error). Supported: JSONL, JSON arrays (read element
by element, so a broken array still yields every element that parses on its own), CSV, Parquet, and the
gzip-compressed variants of the text formats.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import InputNotFoundError
from schemas.records import QuarantineRecord

SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".parquet")
_SURROGATE = re.compile(r"[\udc80-\udcff]")
_DECODER = json.JSONDecoder()
_RAW_LIMIT = 2000


@dataclass
class RawRows:
    """What one file yielded: parsed objects with their line numbers, and what was quarantined."""

    path: str
    kind: str
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)

    def bad(self, line: int | None, code: str, error: str, raw: str | None = None,
            column: int | None = None, field_name: str | None = None) -> None:
        self.quarantine.append(QuarantineRecord(
            source_file=self.path, line=line, column=column, field=field_name, code=code, error=error,
            raw=None if raw is None else raw[:_RAW_LIMIT]))


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """Expand files, folders (recursively, known suffixes only) and globs into a sorted file list.

    Raises :class:`InputNotFoundError` naming the first input that matched nothing.
    """
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and _kind(f) is not None)
        elif p.is_file():
            found = [p]
        else:
            found = sorted(Path(f) for f in glob.glob(str(item), recursive=True) if Path(f).is_file())
        if not found:
            raise InputNotFoundError(f"{item}: no such file, or no readable data file in it")
        files.extend(found)
    return list(dict.fromkeys(files))


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return "jsonl" if suffix == ".ndjson" else suffix[1:]
    return None


def read_file(path: str | Path) -> RawRows:
    """Read one file into :class:`RawRows`. Never raises for bad content; only for unreadable paths."""
    path = Path(path)
    kind = _kind(path) or _sniff(path)
    out = RawRows(path=str(path), kind=kind)
    data = path.read_bytes()
    if path.name.lower().endswith(".gz") or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            out.bad(None, "read.gzip", f"not a readable gzip file: {exc}")
            return out
    if not data.strip():
        out.bad(None, "read.empty_file", "the file is empty")
        return out
    if kind == "parquet":
        _read_parquet(data, out)
    elif kind == "csv":
        _read_csv(data, out)
    elif kind == "json":
        _read_json_array(data, out)
    else:
        _read_jsonl(data, out)
    return out


def _sniff(path: Path) -> str:
    head = path.read_bytes()[:4096]
    if head.startswith(b"PAR1"):
        return "parquet"
    return "json" if head.lstrip().startswith(b"[") else "jsonl"


def _read_jsonl(data: bytes, out: RawRows) -> None:
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            shown = raw.decode("utf-8", "replace")
            out.bad(lineno, "read.encoding", f"bytes that are not UTF-8 at byte {exc.start + 1}",
                    shown, column=exc.start + 1, field_name=_field_with(shown, "\ufffd"))
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            out.bad(lineno, "read.json_syntax", exc.msg, text, column=exc.colno)
            continue
        _accept(out, lineno, obj, text)


def _field_with(text: str, needle: str) -> str | None:
    """The top-level field of a JSON object text whose value contains ``needle``, if it parses."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(obj, dict):
        return next((k for k, v in obj.items() if needle in str(v)), None)
    return None


def _accept(out: RawRows, lineno: int, obj: Any, raw: str) -> None:
    if isinstance(obj, dict):
        out.rows.append((lineno, obj))
    else:
        out.bad(lineno, "read.not_an_object", f"expected a JSON object, got {type(obj).__name__}", raw)


def _read_json_array(data: bytes, out: RawRows) -> None:
    """Decode a JSON array one element at a time; resynchronise after a broken element."""
    text = data.decode("utf-8", "surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    n = len(text)
    pos = _skip_ws(text, 0)
    if pos >= n or text[pos] != "[":
        # A single object or JSONL with a .json suffix: read it as JSONL, which also takes one object.
        _read_jsonl(data, out)
        return
    pos = _skip_ws(text, pos + 1)
    lineno, counted = 1, 0

    def line_of(p: int) -> int:
        nonlocal lineno, counted
        lineno += text.count("\n", counted, p)
        counted = p
        return lineno

    while pos < n and text[pos] != "]":
        try:
            obj, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            line = line_of(exc.pos)
            col = exc.pos - text.rfind("\n", 0, exc.pos)
            nxt = text.find("{", exc.pos + 1)
            out.bad(line, "read.json_syntax", f"{exc.msg} (element skipped)", text[pos:nxt if nxt > 0 else n],
                    column=col)
            if nxt < 0:
                break
            pos = nxt
            continue
        line = line_of(pos)
        raw = text[pos:end]
        if _SURROGATE.search(raw):
            bad = _SURROGATE.search(raw).start()  # type: ignore[union-attr]
            out.bad(line + raw.count("\n", 0, bad), "read.encoding", "bytes that are not UTF-8 in this element",
                    raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
        else:
            _accept(out, line, obj, raw)
        pos = _skip_ws(text, end)
        if pos < n and text[pos] == ",":
            comma = pos
            pos = _skip_ws(text, pos + 1)
            if pos < n and text[pos] == "]":
                out.bad(line_of(comma), "read.json_syntax",
                        "trailing comma before ']': the file is not valid JSON (every element was recovered)",
                        column=comma - text.rfind("\n", 0, comma))
        elif pos < n and text[pos] != "]":
            out.bad(line_of(pos), "read.json_syntax", "expected ',' or ']' between elements",
                    text[pos:pos + 200], column=pos - text.rfind("\n", 0, pos))
    if pos >= n:
        out.bad(line_of(n), "read.json_syntax", "the array is not closed with ']' (file cut short?)")


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _read_csv(data: bytes, out: RawRows) -> None:
    text = data.decode("utf-8", "surrogateescape")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    _ = reader.fieldnames  # consume the header so line numbers below are the rows' own
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.bad(start, "read.csv_syntax", str(exc))
            continue
        values = {k: v for k, v in row.items() if k is not None}
        joined = "".join(str(v) for v in values.values() if v is not None)
        if None in row:
            out.bad(start, "read.csv_syntax", "more fields than the header has", joined)
        elif _SURROGATE.search(joined):
            out.bad(start, "read.encoding", "bytes that are not UTF-8 in this row",
                    joined.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
        else:
            out.rows.append((start, values))


def _read_parquet(data: bytes, out: RawRows) -> None:
    import polars as pl

    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several error types for corrupt files
        out.bad(None, "read.parquet", f"not a readable Parquet file: {exc}")
        return
    out.rows.extend((i, row) for i, row in enumerate(frame.to_dicts()))
