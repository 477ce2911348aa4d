"""Ingestion: files in, one normalised polars frame plus quarantine records out.

Frame columns (the contract later stages rely on):
``row_idx`` (global position), ``id`` (stable hash), ``messages`` (list of ``{role, content}``),
``source_file``, ``source_line``, ``format``, ``metadata`` (the original fields as a JSON string).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from curate.formats import (RowError, apply_column_map, column_map_clash, detect_format, map_roles, row_format,
                            to_messages)
from curate.fast_ingest import fast_jsonl
from curate.input_scan import scan_inputs
from curate.readers import RawRows, read_file
from schemas.records import QuarantineRecord

MESSAGE_DTYPE = pl.List(pl.Struct({"role": pl.String, "content": pl.String}))
FRAME_SCHEMA = {
    "row_idx": pl.Int64, "id": pl.String, "messages": MESSAGE_DTYPE, "source_file": pl.String,
    "source_line": pl.Int64, "format": pl.String, "metadata": pl.String,
}


@dataclass
class FileSummary:
    """Per-input facts for reports and manifests."""

    path: str
    format: str | None
    rows: int
    quarantined: int
    sha256: str
    fields: dict[str, float] = field(default_factory=dict)  # field -> share of rows where it is non-empty


@dataclass
class IngestResult:
    frame: pl.DataFrame
    quarantine: list[QuarantineRecord]
    files: list[FileSummary]
    skipped: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0: everything read; 3: completed with quarantined rows; 4: nothing could be read."""
        if self.frame.height == 0:
            return 4
        return 3 if self.quarantine else 0


def _sha1_16(keys: pl.Series) -> pl.Series:
    return pl.Series([hashlib.sha1(k.encode("utf-8", "surrogatepass")).hexdigest()[:16] for k in keys.to_list()],
                     dtype=pl.String)


def stable_ids(names: dict[str, str] | None = None) -> pl.Expr:
    """Row ids: a hash of file name, line and the normalised conversation, stable across runs,
    machines and Sieve's two ingestion paths. ``names``: the files whose name in the hash is a longer path
    ending, because another input file has their name (:func:`curate.input_scan.id_names`)."""
    content = pl.col("messages").list.eval(
        pl.concat_str([pl.element().struct.field("role"), pl.element().struct.field("content")], separator="\x1f")
    ).list.join("\x1e")
    name = pl.col("source_file").str.split("/").list.last()
    if names:
        name = pl.col("source_file").replace_strict(names, default=name, return_dtype=pl.String)
    key = pl.concat_str([name, pl.col("source_line").cast(pl.String),
                         content], separator="\x00")
    return key.map_batches(_sha1_16, return_dtype=pl.String)


def ingest(inputs: list[str | Path], column_map: dict[str, str] | None = None,
           on_file: Callable[[FileSummary], None] | None = None, exclude: list[Path] | None = None,
           role_map: dict[str, str] | None = None, names: dict[str, str] | None = None) -> IngestResult:
    """Read every input (files, folders, globs) into one frame; nothing unreadable is lost.

    Raises :class:`curate.errors.InputNotFoundError` for inputs that match no file. Bad content never
    raises: it becomes :class:`QuarantineRecord` entries naming file, line, column and field.
    """
    column_map = column_map or {}
    frames: list[pl.DataFrame] = []
    quarantine: list[QuarantineRecord] = []
    files: list[FileSummary] = []
    scan = scan_inputs(inputs, exclude)
    for path in scan.files:
        fast = fast_jsonl(path, column_map)
        if fast is not None:
            frame, fmt, raw = fast.frame, fast.format, RawRows(path=str(path), kind="jsonl")
            fields = fast.fields
        else:
            raw = read_file(path)
            frame, fmt = _normalise_file(raw, column_map, role_map or {})
            fields = _fill_rates(raw)
        frames.append(frame)
        quarantine.extend(raw.quarantine)
        summary = FileSummary(path=str(path), format=fmt, rows=frame.height, quarantined=len(raw.quarantine),
                              sha256=file_sha256(path), fields=fields)
        files.append(summary)
        if on_file:
            on_file(summary)
    # every file's frame in one column order (the fast and row-by-row paths build them differently)
    frame = pl.concat([f.select(list(FRAME_SCHEMA)) for f in frames]) if frames else pl.DataFrame(schema=FRAME_SCHEMA)
    ids = stable_ids(scan.names if names is None else names)  # names: of the whole run, where it reads a file at a time
    frame = frame.with_columns(row_idx=pl.int_range(pl.len(), dtype=pl.Int64), id=ids).select(list(FRAME_SCHEMA))
    return IngestResult(frame=frame, quarantine=quarantine, files=files, skipped=scan.skipped)


def _build_frame(records: dict[str, list[Any]], turns: dict[str, list[Any]]) -> pl.DataFrame:
    # Nested columns built from flat ones: polars constructs list-of-struct from Python objects slowly.
    messages = (
        pl.DataFrame(turns, schema={"row_idx": pl.Int64, "role": pl.String, "content": pl.String})
        .group_by("row_idx", maintain_order=True)
        .agg(messages=pl.struct("role", "content"))
    )
    records["row_idx"] = list(range(len(records["source_line"])))
    frame = pl.DataFrame(records, schema={k: v for k, v in FRAME_SCHEMA.items() if k not in ("messages", "id")})
    frame = frame.join(messages, on="row_idx", how="left", maintain_order="left")
    return frame.with_columns(id=pl.lit(None, pl.String)).select(list(FRAME_SCHEMA))


def _normalise_file(raw: RawRows, column_map: dict[str, str], role_map: dict[str, str],
                    detected: tuple[str | None, list[str]] | None = None) -> tuple[pl.DataFrame, str | None]:
    """Row by row: the path that handles every format and every malformed row."""
    out: dict[str, list[Any]] = {k: [] for k in FRAME_SCHEMA if k not in ("row_idx", "messages", "id")}
    turns: dict[str, list[Any]] = {"row_idx": [], "role": [], "content": []}
    fmt = _normalise_rows(raw, column_map, role_map, out, turns, detected)
    return _build_frame(out, turns), fmt


def file_format(objects: list[dict[str, Any]], column_map: dict[str, str]) -> tuple[str | None, list[str]]:
    """A file's format, from its first rows as read (the majority of the first 200), and the keys of its
    first 50 rows (named when the format is unknown)."""
    rows = [apply_column_map(obj, column_map) for obj in objects[:200]]
    return detect_format(rows), sorted({k for obj in rows[:50] for k in obj})


def _normalise_rows(raw: RawRows, column_map: dict[str, str], role_map: dict[str, str],
                    out: dict[str, list[Any]], turns: dict[str, list[Any]],
                    detected: tuple[str | None, list[str]] | None = None) -> str | None:
    """``detected``: the file's :func:`file_format` when ``raw`` holds only a part of the file."""
    rows = [(line, apply_column_map(obj, column_map)) for line, obj in raw.rows]
    fmt, keys = detected or file_format([obj for _, obj in raw.rows], column_map)
    if fmt is None and rows:
        for line, obj in rows:
            raw.bad(line, "read.unknown_format",
                    f"no known format (keys {keys}); map columns with --column-map SRC=DST",
                    json.dumps(obj, ensure_ascii=False, default=str))
        return None
    for (line, obj), (_, original) in zip(rows, raw.rows):
        clash = column_map_clash(original, column_map) if column_map else None
        if clash:
            raw.bad(line, "read.column_map", f"fields '{clash[0]}' and '{clash[1]}' would both become "
                    f"'{clash[2]}' (--column-map): one value would be lost",
                    json.dumps(original, ensure_ascii=False, default=str), field_name=clash[1])
            continue
        # A row that looks like another format (a messages row inside an Alpaca file) is read as such.
        row_fmt = row_format(obj) or fmt
        try:
            messages = map_roles(to_messages(obj, row_fmt), role_map)
        except RowError as exc:
            raw.bad(line, exc.code, str(exc), json.dumps(obj, ensure_ascii=False, default=str), field_name=exc.field)
            continue
        metadata = json.dumps(obj, ensure_ascii=False, default=str)
        row_idx = len(out["source_line"])
        for m in messages:
            turns["row_idx"].append(row_idx)
            turns["role"].append(m["role"])
            turns["content"].append(m["content"])
        out["source_file"].append(raw.path)
        out["source_line"].append(line)
        out["format"].append("column_map" if column_map and row_fmt == "alpaca" else row_fmt)
        out["metadata"].append(metadata)
    return fmt


def _fill_rates(raw: RawRows) -> dict[str, float]:
    if not raw.rows:
        return {}
    counts: dict[str, int] = {}
    for _, obj in raw.rows:
        for key, value in obj.items():
            if value not in (None, "", [], {}):
                counts[key] = counts.get(key, 0) + 1
            else:
                counts.setdefault(key, 0)
    return {k: v / len(raw.rows) for k, v in sorted(counts.items())}


def file_sha256(path: Path) -> str:
    """The file's sha256, or "" for a file that cannot be read (it is quarantined with the reason)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


def write_quarantine(records: list[QuarantineRecord], path: str | Path) -> None:
    """Write quarantine records as JSONL (atomically: a temp file renamed into place)."""
    from curate.atomic import atomic_write_text

    atomic_write_text(path, "".join(r.model_dump_json() + "\n" for r in records))
