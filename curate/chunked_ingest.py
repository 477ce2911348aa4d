"""Ingestion in bounded chunks, for the streaming engine: the rows :func:`curate.ingest.ingest` reads, in
its order and with its ``row_idx``, ``source_line`` and ``id``, a chunk at a time.

A plain JSONL file larger than a chunk is read in byte ranges cut just after line ends
(:func:`curate.ray_ingest.line_ranges`); each range takes the fast path when it qualifies
(:func:`curate.fast_ingest.fast_jsonl_bytes`) and the row-by-row path otherwise, which quarantines bad
lines with their line numbers in the file. Only one range is in memory at a time. Every other file
(JSON arrays, CSV, Parquet, gzip, files smaller than a chunk) is read whole by the in-memory engine's
ingestion, one file at a time, and handed on in slices of about a chunk's size.

Differences from reading a whole file at once, none of which changes a verdict: format detection and
the choice between the fast and row-by-row paths are made per range (a range whose every row is in no
known format is quarantined as such, though rows elsewhere in the file would have named the format),
and rows of a clean range of a file with bad lines keep polars' compact JSON in ``metadata``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from curate.fast_ingest import fast_jsonl_bytes, is_plain_jsonl
from curate.ingest import FRAME_SCHEMA, FileSummary, _fill_rates, _normalise_file, file_sha256, ingest, stable_ids
from curate.ray_ingest import line_ranges
from curate.readers import RawRows, _pretty_printed, _read_jsonl, scan_inputs
from schemas.config import CurateConfig
from schemas.records import QuarantineRecord


def rangeable(path: Path, chunk_bytes: int) -> bool:
    """Whether ``path`` is read in byte ranges: plain JSONL, larger than a chunk, UTF-8 without a
    byte-order mark, one object per line (not JSON pretty-printed into a .jsonl file)."""
    if not (is_plain_jsonl(path) and path.is_file()) or path.stat().st_size <= chunk_bytes:
        return False
    with open(path, "rb") as fh:
        head = fh.read(4000)
    nul_heavy = len(head) >= 8 and head.count(0) * 4 > len(head)
    return not (head[:2] == b"\x1f\x8b" or head[:3] == b"\xef\xbb\xbf" or head[:2] in (b"\xff\xfe", b"\xfe\xff")
                or nul_heavy or _pretty_printed(head))


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
        for path in self.scan.files:
            if rangeable(path, self.chunk_bytes):
                yield from self._ranges(path)
            else:
                yield from self._whole(path)

    def _number(self, frame: pl.DataFrame, ids: bool = True) -> pl.DataFrame:
        frame = frame.with_columns(row_idx=pl.int_range(pl.len(), dtype=pl.Int64) + self.rows)
        if ids:
            frame = frame.with_columns(id=stable_ids())
        self.rows += frame.height
        return frame.select(list(FRAME_SCHEMA))

    def _whole(self, path: Path) -> Iterator[pl.DataFrame]:
        res = ingest([path], self.cfg.ingest.column_map, role_map=self.cfg.ingest.role_map)
        self.files.extend(res.files)
        self.quarantine.extend(res.quarantine)
        size = path.stat().st_size if path.is_file() else 0
        step = max(int(res.frame.height * self.chunk_bytes / max(size, 1)), 1)
        for start in range(0, res.frame.height, step):
            yield self._number(res.frame.slice(start, step), ids=False)  # ingest() gave every row its id

    def _ranges(self, path: Path) -> Iterator[pl.DataFrame]:
        cmap, rmap = self.cfg.ingest.column_map, self.cfg.ingest.role_map
        rows, line0, quarantined, fmt = 0, 0, 0, None
        filled: dict[str, float] = {}  # field -> rows where it is non-empty
        read = 0  # rows the fill rates are over (on the row-by-row path, also rows then quarantined)
        for start, end in line_ranges(path, path.stat().st_size, self.chunk_bytes):
            with open(path, "rb") as fh:
                fh.seek(start)
                data = fh.read(end - start)
            fast = fast_jsonl_bytes(data, path, cmap)
            if fast is not None:
                frame, rate, fmt, over = fast.frame, fast.fields, fmt or fast.format, fast.frame.height
            else:
                raw = RawRows(path=str(path), kind="jsonl")
                _read_jsonl(data, raw)
                raw.rows = [(line + line0, obj) for line, obj in raw.rows]
                bad = [q.model_copy(update={"line": None if q.line is None else q.line + line0})
                       for q in raw.quarantine]
                raw.quarantine = []
                frame, found = _normalise_file(raw, cmap, rmap)  # may quarantine rows it cannot map
                bad += raw.quarantine
                self.quarantine.extend(bad)
                quarantined += len(bad)
                rate, fmt, over = _fill_rates(raw), fmt or found, len(raw.rows)
            for key, share in rate.items():
                filled[key] = filled.get(key, 0.0) + share * over
            read += over
            if fast is not None:
                frame = frame.with_columns(source_line=pl.col("source_line") + line0)
            rows += frame.height
            line0 += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            yield self._number(frame)
        self.files.append(FileSummary(path=str(path), format=fmt, rows=rows, quarantined=quarantined,
                                      sha256=file_sha256(path),
                                      fields={k: v / max(read, 1) for k, v in sorted(filled.items())}))
