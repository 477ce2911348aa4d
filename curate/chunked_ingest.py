"""Ingestion in bounded chunks, for the streaming engine: the rows, quarantine records and file facts of
:func:`curate.ingest.ingest`, in its order and with its ``row_idx``, ``source_line`` and ``id``, a chunk
at a time.

A plain JSONL file larger than a chunk is read in byte ranges cut just after line ends
(:func:`curate.ray_ingest.line_ranges`), one range in memory at a time, in two passes. The first pass
(:func:`survey`) decides what a whole-file read would: the fast path when every range qualifies with the
same columns (:func:`curate.fast_ingest.fast_jsonl_bytes`), else the row-by-row path for every range with
the format the file's first rows give (:func:`curate.ingest.file_format`). The second pass reads the
ranges that way; a file's read errors come before its mapping errors, as in a whole-file read. Every
other file (JSON arrays, CSV, Parquet, gzip, a byte-order mark, files smaller than a chunk) is read whole
by the in-memory engine's ingestion, one file at a time; small files are gathered into chunks of about
``chunk_bytes`` and a big one is cut into slices of about that size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from curate.fast_ingest import fast_jsonl_bytes, is_plain_jsonl
from curate.ingest import (FRAME_SCHEMA, FileSummary, _fill_rates, _normalise_file, file_format, file_sha256, ingest,
                           stable_ids)
from curate.ray_ingest import line_ranges
from curate.input_scan import scan_inputs
from curate.readers import RawRows, _pretty_printed, _read_jsonl
from schemas.config import CurateConfig
from schemas.records import QuarantineRecord

_SAMPLE = 200  # rows that decide a file's format (curate.formats.detect_format)


def content_bytes(path: Path) -> int:
    """About how many bytes of rows a file holds once read, never less than its size on disk: for gzip
    (by its magic bytes, as the reader tells it) the uncompressed size its trailer records, for Parquet its
    row groups' uncompressed size (with pyarrow, where installed). What deciding to stream goes by; 0 for
    what cannot be read (the reader reports it).

    A gzip trailer records the size modulo 4 GiB, and only its last member's: a big file (64 MiB or more)
    whose recorded size is below its own is taken as wrapped past 4 GiB (for a file of many members, an
    overestimate: it is streamed, the safe side)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            if fh.read(2) == b"\x1f\x8b" and size >= 18:
                fh.seek(-4, 2)
                recorded = int.from_bytes(fh.read(4), "little")
                if recorded < size and size >= 64 << 20:
                    recorded += math.ceil((size - recorded) / 2**32) * 2**32
                return max(size, recorded)
        if path.name.lower().endswith(".parquet"):
            return max(size, _parquet_bytes(path))
        return size
    except OSError:
        return 0


def _parquet_bytes(path: Path) -> int:
    try:
        import pyarrow.parquet as pq  # with the review and ray extras; without it the file's size stands
    except ImportError:
        return 0
    try:
        meta = pq.read_metadata(path)
    except Exception:  # noqa: BLE001 - not Parquet after all: the reader quarantines it with the reason
        return 0
    return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))


def rangeable(path: Path, chunk_bytes: int) -> bool:
    """Whether ``path`` is read in byte ranges: plain JSONL, larger than a chunk, UTF-8 without a
    byte-order mark, one object per line (not JSON pretty-printed into a .jsonl file). A file that cannot
    be opened is not: the whole-file reader quarantines it with the reason."""
    try:
        if not (is_plain_jsonl(path) and path.is_file()) or path.stat().st_size <= chunk_bytes:
            return False
        with open(path, "rb") as fh:
            head = fh.read(4000)
    except OSError:
        return False
    nul_heavy = len(head) >= 8 and head.count(0) * 4 > len(head)
    return not (head[:2] == b"\x1f\x8b" or head[:3] == b"\xef\xbb\xbf" or head[:2] in (b"\xff\xfe", b"\xfe\xff")
                or nul_heavy or _pretty_printed(head) or not head.strip())


@dataclass
class Survey:
    """What the first pass over a ranged file decided."""

    fast: bool  # every range on the fast path, with the same columns
    detected: tuple[str | None, list[str]]  # the file's format and first keys (row-by-row path)


def _ranges_of(path: Path, chunk_bytes: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        for start, end in line_ranges(path, path.stat().st_size, chunk_bytes):
            fh.seek(start)
            yield fh.read(end - start)


def survey(path: Path, chunk_bytes: int, column_map: dict[str, str]) -> Survey:
    """Read every range once: can the whole file take the fast path, and what format do its first rows give?"""
    columns, fast, sample = None, True, []
    for data in _ranges_of(path, chunk_bytes):
        if len(sample) < _SAMPLE:
            raw = RawRows(path=str(path), kind="jsonl")
            _read_jsonl(data, raw)
            sample += [obj for _, obj in raw.rows[:_SAMPLE - len(sample)]]
        if fast:
            res = fast_jsonl_bytes(data, path, column_map)
            fast = res is not None and columns in (None, res.columns)
            columns = res.columns if res is not None else columns
        if not fast and len(sample) >= _SAMPLE:
            break
    return Survey(fast=fast, detected=file_format(sample, column_map))


@dataclass
class ChunkedIngest:
    """Iterate to get the chunks (frames of :data:`curate.ingest.FRAME_SCHEMA`); ``files``, ``quarantine``
    and ``rows`` are complete once the iteration ends."""

    inputs: list[str | Path]
    cfg: CurateConfig
    chunk_bytes: int
    exclude: list[Path] | None = None
    files: list[FileSummary] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    rows: int = 0

    def __post_init__(self) -> None:
        self.scan = scan_inputs(self.inputs, self.exclude)

    @property
    def skipped(self) -> list[str]:
        return self.scan.skipped

    def __iter__(self) -> Iterator[pl.DataFrame]:
        held: list[pl.DataFrame] = []  # small files' rows, gathered into one chunk
        size = 0
        for path in self.scan.files:
            if rangeable(path, self.chunk_bytes):
                if held:
                    yield self._number(pl.concat(held), ids=False)
                    held, size = [], 0
                yield from self._ranges(path)
                continue
            for part, nbytes in self._whole(path):
                if held and size + nbytes > self.chunk_bytes:  # a chunk is at most about chunk_bytes
                    yield self._number(pl.concat(held), ids=False)
                    held, size = [], 0
                held.append(part)
                size += nbytes
        if held:
            yield self._number(pl.concat(held), ids=False)

    def _number(self, frame: pl.DataFrame, ids: bool = True) -> pl.DataFrame:
        frame = frame.with_columns(row_idx=pl.int_range(pl.len(), dtype=pl.Int64) + self.rows)
        if ids:
            frame = frame.with_columns(id=stable_ids(self.scan.names))
        self.rows += frame.height
        return frame.select(list(FRAME_SCHEMA))

    def _whole(self, path: Path) -> Iterator[tuple[pl.DataFrame, int]]:
        """A file read whole (ids set), in slices of about a chunk: (rows, their share of the bytes)."""
        res = ingest([path], self.cfg.ingest.column_map, role_map=self.cfg.ingest.role_map, names=self.scan.names)
        self.files.extend(res.files)
        self.quarantine.extend(res.quarantine)
        frame = res.frame.select(list(FRAME_SCHEMA))
        # sliced by what was read (a frame takes about 2x its text), not by content_bytes' estimate
        size = max(int(frame.estimated_size() / 2), 1)
        step = max(int(frame.height * self.chunk_bytes / size), 1)
        for start in range(0, frame.height, step):
            part = frame.slice(start, step)
            yield part, size * part.height // max(frame.height, 1)

    def _ranges(self, path: Path) -> Iterator[pl.DataFrame]:
        cmap, rmap = self.cfg.ingest.column_map, self.cfg.ingest.role_map
        plan = survey(path, self.chunk_bytes, cmap)
        rows, line0, fmt = 0, 0, plan.detected[0]
        read_errors: list[QuarantineRecord] = []
        map_errors: list[QuarantineRecord] = []
        filled: dict[str, float] = {}  # field -> rows where it is non-empty
        counted = 0  # rows the fill rates are over (on the row-by-row path, also rows then quarantined)
        for data in _ranges_of(path, self.chunk_bytes):
            if plan.fast:
                fast = fast_jsonl_bytes(data, path, cmap)
                frame = fast.frame.with_columns(source_line=pl.col("source_line") + line0)
                rate, over, fmt = fast.fields, frame.height, "alpaca"
            else:
                raw = RawRows(path=str(path), kind="jsonl")
                _read_jsonl(data, raw)
                raw.rows = [(line + line0, obj) for line, obj in raw.rows]
                read_errors += [_shift(q, line0) for q in raw.quarantine]
                raw.quarantine = []
                frame, _ = _normalise_file(raw, cmap, rmap, plan.detected)
                map_errors += raw.quarantine
                rate, over = _fill_rates(raw), len(raw.rows)
            for key, share in rate.items():
                filled[key] = filled.get(key, 0.0) + share * over
            counted += over
            rows += frame.height
            line0 += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            yield self._number(frame)
        self.quarantine += read_errors + map_errors
        self.files.append(FileSummary(path=str(path), format=fmt, rows=rows, quarantined=len(read_errors + map_errors),
                                      sha256=file_sha256(path),
                                      fields={k: v / max(counted, 1) for k, v in sorted(filled.items())}))


def _shift(q: QuarantineRecord, lines: int) -> QuarantineRecord:
    return q if q.line is None else q.model_copy(update={"line": q.line + lines})
