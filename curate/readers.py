"""Read raw rows out of instruction-data files, never losing one silently.

Each reader returns ``RawRows``: the objects that parsed, each with its 1-based line, and quarantine
records for what did not parse (file, line, column, error). Supported: JSONL, JSON arrays (read element
by element, so a broken array still yields every element that parses on its own), CSV, TSV, Parquet, and the
gzip-compressed variants of the text formats.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.json_text import STRICT as _STRICT
from curate.json_text import DuplicateKeyError, concatenated, element_end, finite, loads, wrapped_array
from curate.input_scan import file_kind
from schemas.records import QuarantineRecord

_SURROGATE = re.compile(r"[\udc80-\udcff]")  # undecodable bytes, as decode(..., "surrogateescape") keeps them
# a JSON escape of half a UTF-16 pair with no other half: Python's json decodes it to a lone surrogate
# (not a character: no UTF-8 for it), polars' to a NUL; a pair (an escaped emoji) is one character
_HIGH, _LOW = r"\\u[dD][89abAB][0-9a-fA-F]{2}", r"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
LONE_ESCAPE = re.compile(f"{_HIGH}(?!{_LOW})|(?<!{_HIGH}){_LOW}")
_ANY_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # a quick first look: the pattern above tries every position
_ANY_ESCAPE_BYTES, _LONE_ESCAPE_BYTES = re.compile(_ANY_ESCAPE.pattern.encode()), re.compile(LONE_ESCAPE.pattern.encode())
_LONE = re.compile("[\ud800-\udfff]")


def has_lone_escape(data: bytes) -> bool:
    """Whether JSON bytes hold an escape of half a surrogate pair (:data:`LONE_ESCAPE`)."""
    return _ANY_ESCAPE_BYTES.search(data) is not None and _LONE_ESCAPE_BYTES.search(data) is not None


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


def read_file(path: str | Path) -> RawRows:
    """Read one file into :class:`RawRows`. Never raises: an unreadable file, a cut gzip stream, an
    encoding other than UTF-8 or bad content all become quarantine records."""
    path = Path(path)
    out = RawRows(path=str(path), kind=file_kind(path) or "jsonl")
    try:
        data = path.read_bytes()
    except OSError as exc:  # no permission, a vanished file, an I/O error: this file only
        out.bad(None, "read.unreadable", f"cannot read the file: {exc.strerror or exc}")
        return out
    if data[:2] == b"\x1f\x8b":  # gzip by its magic bytes: an empty or plain file named .gz is read as it is
        data = _gunzip(data, out)
    data = _to_utf8(data, out)
    if data is None:
        return out
    kind = file_kind(path) or _sniff(data)
    out.kind = kind
    if not data.strip():
        out.bad(None, "read.empty_file", "the file is empty (or whitespace only)")
        return out
    if kind == "parquet":
        _read_parquet(data, out)
    elif kind in ("csv", "tsv"):
        _read_csv(data, out, "\t" if kind == "tsv" else ",")
    elif kind == "json" or _pretty_printed(data):
        _read_json_array(data, out)
    else:
        _read_jsonl(data, out)
    if not out.rows and not out.quarantine:  # [], {"data": []}, a CSV of headers, a Parquet of no rows
        out.bad(None, "read.empty_file", "the file holds no rows")
    return out


def _sniff(data: bytes) -> str:
    if data.startswith(b"PAR1"):
        return "parquet"
    return "json" if data.lstrip()[:1] in (b"[", b"{") else "jsonl"


def _pretty_printed(data: bytes) -> bool:
    """JSON written over many lines in a .jsonl file: its first line opens an array or object alone."""
    first = data.lstrip().split(b"\n", 1)[0].strip()
    return first in (b"[", b"{")


def _gunzip(data: bytes, out: RawRows) -> bytes:
    """Decompress what can be decompressed, every member of a multi-member file (concatenated gzip files,
    bgzip) as gzip itself does; a cut or corrupt stream keeps the bytes before the damage (its last,
    partial line is then quarantined by the parser) and is itself quarantined, as is data after the last
    member that is not gzip (zero padding is ignored, as gzip ignores it)."""
    parts: list[bytes] = []
    while True:
        dec = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            parts.append(dec.decompress(data))
        except zlib.error as exc:
            out.bad(None, "read.gzip", f"corrupt gzip data: {exc}; rows before the damage were read")
            break
        if not dec.eof:
            out.bad(None, "read.gzip", f"the gzip stream is cut short after {sum(map(len, parts)):,} bytes of "
                    "data; rows before the cut were read, the cut line is quarantined")
            break
        data = dec.unused_data
        if data[:2] != b"\x1f\x8b":
            if data.strip(b"\x00"):
                out.bad(None, "read.gzip", f"{len(data):,} bytes after the end of the gzip data are not gzip; "
                        "they were not read")
            break
    return b"".join(parts)


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _to_utf8(data: bytes, out: RawRows) -> bytes | None:
    """UTF-8 without a byte-order mark. A BOM names the encoding (UTF-8, UTF-16 or UTF-32): the text is
    re-encoded, so no row is lost to it; undecodable UTF-16/32 is quarantined whole with the reason."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            if encoding == "utf-8-sig":
                return data[len(bom):]
            try:
                return data.decode(encoding).encode("utf-8")
            except UnicodeDecodeError as exc:
                out.bad(None, "read.encoding", f"the file starts with a {encoding.upper()} byte-order mark but "
                        f"is not valid {encoding.upper()} at byte {exc.start}; convert it to UTF-8")
                return None
    sample = data[:4000]
    if len(sample) >= 8 and sample.count(0) * 4 > len(sample):  # NUL-heavy: UTF-16 without a byte-order mark
        odd_nul = sample[1::2].count(0) > sample[0::2].count(0)
        try:
            return data.decode("utf-16-le" if odd_nul else "utf-16-be").encode("utf-8")
        except UnicodeDecodeError:
            out.bad(None, "read.encoding", "the file looks like UTF-16 without a byte-order mark but does not "
                    "decode as such; convert it to UTF-8")
            return None
    return data


def _read_jsonl(data: bytes, out: RawRows) -> None:
    # lines end in \n (or \r\n); a file with \r alone (classic Mac OS) has its lines split there
    lines = data.split(b"\r") if b"\r" in data and b"\n" not in data else data.split(b"\n")
    for lineno, raw in enumerate(lines, start=1):
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
            obj = loads(text)
        except json.JSONDecodeError as exc:
            out.bad(lineno, "read.json_syntax", exc.msg, text, column=exc.colno)
            continue
        except RecursionError:
            out.bad(lineno, "read.json_too_deep", "JSON nested deeper than the parser allows", text)
            continue
        except DuplicateKeyError as exc:
            out.bad(lineno, "read.duplicate_key", str(exc), text, field_name=exc.key)
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
    if not isinstance(obj, dict):
        out.bad(lineno, "read.not_an_object", f"expected a JSON object, got {type(obj).__name__}", raw)
    elif ((at := LONE_ESCAPE.search(raw) if _ANY_ESCAPE.search(raw) else None) or _LONE.search(raw)) \
            and (where := _lone_surrogate(obj)):
        key, char = where
        pos = at.start() if at else 0
        out.bad(lineno + raw.count("\n", 0, pos), "read.encoding",
                f"a lone UTF-16 surrogate (\\u{ord(char):04x}) in '{key}': half of an escaped character pair, "
                "not text, and it has no UTF-8 form; fix or remove the escape", raw,
                column=pos - raw.rfind("\n", 0, pos) if at else None, field_name=key)
    else:
        out.rows.append((lineno, finite(obj)))


def _lone_surrogate(obj: dict) -> tuple[str, str] | None:
    """(top-level field, the surrogate) of the first string of ``obj`` (keys included, at any depth)
    that holds a lone surrogate."""
    def first(value: Any) -> str | None:
        if isinstance(value, str):
            hit = _LONE.search(value)
            return hit.group() if hit else None
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for k, v in items:
            found = first(k) if isinstance(k, str) else None
            if found := found or first(v):
                return found
        return None

    for key, value in obj.items():
        if found := first(key) or first(value):
            return key, found
    return None


def _read_json_array(data: bytes, out: RawRows) -> None:
    """Decode a JSON array one element at a time; resynchronise after a broken element."""
    text = data.decode("utf-8", "surrogateescape")
    n = len(text)
    pos = _skip_ws(text, 0)
    if pos < n and text[pos] == "{":
        start = wrapped_array(text, row_like)
        if start is None:
            # One object (pretty-printed or not), or JSONL with a .json suffix.
            _read_single_or_jsonl(text, data, out)
            return
        pos = start
    elif pos >= n or text[pos] != "[":
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
            obj, end = _STRICT.raw_decode(text, pos)
        except (RecursionError, DuplicateKeyError) as exc:
            end = element_end(text, pos)  # this element only: the ones after it are read as usual
            code = "read.duplicate_key" if isinstance(exc, DuplicateKeyError) else "read.json_too_deep"
            msg = str(exc) if isinstance(exc, DuplicateKeyError) else "JSON nested deeper than the parser allows"
            out.bad(line_of(pos), code, f"{msg} (element skipped)", text[pos:end],
                    field_name=getattr(exc, "key", None))
            pos = _skip_ws(text, end)
            if pos < n and text[pos] == ",":
                pos = _skip_ws(text, pos + 1)
            continue
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


def row_like(obj: dict) -> bool:
    """An object that is itself a row (has a chat list or an instruction field), not a wrapper."""
    from curate.formats import row_format

    return row_format(obj) is not None


def _read_single_or_jsonl(text: str, data: bytes, out: RawRows) -> None:
    try:
        obj = loads(text)
    except (ValueError, RecursionError):
        objs = concatenated(text)  # pretty-printed objects one after another (jq . output)
        if objs is None:
            _read_jsonl(data, out)  # JSONL: one object per line, with per-line errors
            return
        for line, obj in objs:
            _accept(out, line, obj, json.dumps(obj, ensure_ascii=False)[:2000])
        return
    _accept(out, 1, obj, text)


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _read_csv(data: bytes, out: RawRows, delimiter: str = ",") -> None:
    text = data.decode("utf-8", "surrogateescape")
    # TSV has no quoting (a tab or newline cannot be in a field): a quote is text there
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
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
    out.rows.extend((i, finite(row)) for i, row in enumerate(frame.to_dicts(), start=1))  # row 1 is the first, as line 1
