"""The fast path of ingestion: a clean Alpaca JSONL file read and normalised by polars in one go.

It applies only when nothing can go wrong row by row: plain (not gzip) JSONL that polars parses in
full, with no blank lines (so row i is line i+1), every column a string without nulls, and Alpaca
columns. Anything else returns ``None`` and the file takes the row-by-row path in
:mod:`curate.ingest`, which handles every format and quarantines bad rows. Both paths produce the same
frame (tests compare them on the real data); only the JSON spacing of ``metadata`` differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from curate.formats import INPUT_KEYS, INSTRUCTION_KEYS, OUTPUT_KEYS, column_map_clash
from curate.readers import has_lone_escape

_ALLOWED = set(INSTRUCTION_KEYS) | set(INPUT_KEYS) | set(OUTPUT_KEYS)


@dataclass
class FastResult:
    frame: pl.DataFrame
    format: str
    fields: dict[str, float]
    columns: tuple[str, ...] = ()  # the source columns in file order (they order ``metadata``'s keys)


def is_plain_jsonl(path: Path) -> bool:
    """Whether ``path`` is named as plain (not compressed) JSONL: the files the fast path may read."""
    name = path.name.lower()
    return name.endswith(".jsonl") or name.endswith(".ndjson")


def fast_jsonl(path: Path, column_map: dict[str, str]) -> FastResult | None:
    """Read ``path`` on the fast path, or return ``None`` when it does not qualify."""
    if not is_plain_jsonl(path):
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None  # the row-by-row path quarantines the file with the reason
    return fast_jsonl_bytes(data, path, column_map)


def fast_jsonl_bytes(data: bytes, path: Path, column_map: dict[str, str]) -> FastResult | None:
    """The fast path over ``data`` (the file's bytes, or a run of its whole lines for the Ray engine);
    ``source_line`` counts from 1 at the start of ``data``. ``None`` when the bytes do not qualify."""
    if not data.strip() or b"\n\n" in data or data.startswith(b"\n") or b"\r" in data or data[:3] == b"\xef\xbb\xbf":
        return None
    if has_lone_escape(data):  # polars reads half a surrogate pair as NUL: the row-by-row path quarantines it
        return None
    try:
        df = pl.read_ndjson(data, infer_schema_length=None)  # every row: a key first seen late is never dropped
    except Exception:  # any parse problem: the row-by-row path reports it precisely
        return None
    if column_map:
        if column_map_clash(dict.fromkeys(df.columns), column_map):
            return None  # two columns would get one name: the row-by-row path quarantines those rows
        df = df.rename({k: v for k, v in column_map.items() if k in df.columns})
    cols = set(df.columns)
    instr = next((k for k in INSTRUCTION_KEYS if k in cols), None)
    output = next((k for k in OUTPUT_KEYS if k in cols), None)
    extra = next((k for k in INPUT_KEYS if k in cols), None)
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if (instr is None or output is None or not cols <= _ALLOWED or df.height != lines
            or "prompt" in cols and "completion" in cols and "instruction" not in cols
            or any(dt != pl.String for dt in df.dtypes) or df.null_count().sum_horizontal().item() > 0):
        return None
    if _repeated_or_not_text(data, df.columns, df.height):
        return None  # polars keeps the first value of a repeated key, and reads 42 as "42" in a column of
        # texts; the row-by-row path quarantines both
    user = pl.col(instr)
    if extra:
        user = pl.when(pl.col(extra).str.strip_chars() != "").then(
            pl.concat_str([pl.col(instr), pl.lit("\n\n"), pl.col(extra)])).otherwise(pl.col(instr))
    fields = {c: float(v) for c, v in df.select((pl.all() != "").mean()).row(0, named=True).items()}
    frame = df.select(
        messages=pl.concat_list([pl.struct(role=pl.lit("user"), content=user),
                                 pl.struct(role=pl.lit("assistant"), content=pl.col(output))]),
        source_file=pl.lit(str(path)),
        source_line=pl.int_range(1, pl.len() + 1, dtype=pl.Int64),
        format=pl.lit("column_map" if column_map else "alpaca"),
        metadata=pl.struct(df.columns).struct.json_encode(),
    ).with_columns(row_idx=pl.lit(0, pl.Int64), id=pl.lit(None, pl.String))
    return FastResult(frame=frame, format="alpaca", fields=dict(sorted(fields.items())), columns=tuple(df.columns))


def _repeated_or_not_text(data: bytes, columns: list[str], rows: int) -> bool:
    """Whether some object may name a key twice (a key, outside a string, occurs more often than rows) or
    give a key a value that is not a string (its value does not open with a quote)."""
    import re

    for c in columns:
        # a pattern that opens with its literal key is scanned for fast (a look-behind there was 9x slower);
        # a match preceded by a backslash is a quoted key inside a string
        found = re.compile(rb'"' + re.escape(c.encode()) + rb'"\s*:\s*(.)').finditer(data)
        firsts = [m.group(1) for m in found if data[m.start() - 1:m.start()] != b"\\"]
        if len(firsts) > rows or firsts.count(b'"') != len(firsts):
            return True
    return False
