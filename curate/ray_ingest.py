"""Ingestion for the Ray engine: one task per input file, or per byte range of a large plain JSONL file.

A plain JSONL file larger than a range is cut just after line ends; each range is read by the fast path
(:func:`curate.fast_ingest.fast_jsonl_bytes`), numbering its lines from 1. The fast path reads a whole
file or none of it, so a file takes it only when every range qualifies with the same columns (then the
whole file qualifies too, and the rows are the local engine's); otherwise one task reads the whole file
with :func:`curate.ingest.ingest`, the local engine's own code, which quarantines bad rows.

Every part is an Arrow table in the object store with ``_part`` and ``_local`` (its row number in the
part); the driver learns each part's rows and lines and turns them into the global ``row_idx`` and
``source_line`` the local engine gives (:class:`Parts`). Inputs must be readable at the same path on
every node (a shared file system), as for any Ray job that reads files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from curate.fast_ingest import fast_jsonl_bytes, is_plain_jsonl
from curate.ingest import FileSummary, file_sha256, ingest
from curate.input_scan import scan_inputs
from schemas.config import CurateConfig
from schemas.records import QuarantineRecord

MIN_RANGE, MAX_RANGE = 1 << 20, 64 << 20  # automatic ranges: enough work per task, enough tasks per CPU


@dataclass
class Parts:
    """The ingested input as object-store tables, in the local engine's row order."""

    tables: list[Any]  # ray.ObjectRef of pyarrow.Table, part by part in row order
    offsets: pl.DataFrame  # _part, _row0 (row_idx of its first row), _line0 (added to its source_line)
    rows: int
    files: list[FileSummary]
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # for row ids: curate.input_scan.id_names


def line_ranges(path: Path, size: int, range_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges ``[start, end)`` covering the file, each ending just after a newline (the last at EOF)."""
    bounds = [0]
    with open(path, "rb") as fh:
        pos = range_bytes
        while pos < size:
            fh.seek(pos - 1)
            fh.readline()  # to the end of the line holding byte pos - 1: a range ends after its newline
            end = fh.tell()
            if end >= size:
                break
            bounds.append(end)
            pos = end + range_bytes
    bounds.append(size)
    return list(zip(bounds[:-1], bounds[1:]))


def _arrow(frame: pl.DataFrame, part: int):
    # the oldest Arrow layout (large_string, not string_view): what every Ray Data version reads
    frame = frame.drop("row_idx", "id").with_columns(_part=pl.lit(part, pl.Int32),
                                                     _local=pl.int_range(pl.len(), dtype=pl.Int64))
    return frame.to_arrow(compat_level=pl.CompatLevel.oldest())


def read_range(path: str, start: int, end: int, part: int, column_map: dict[str, str]) -> tuple[Any, dict]:
    """One byte range on the fast path: (table or None, facts). Runs as a Ray task."""
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    fast = fast_jsonl_bytes(data, Path(path), column_map)
    if fast is None:
        return None, {"fast": False}
    return _arrow(fast.frame, part), {"fast": True, "rows": fast.frame.height, "columns": fast.columns,
                                      "fields": fast.fields}


def read_whole(path: str, part: int, column_map: dict[str, str], role_map: dict[str, str]) -> tuple[Any, dict]:
    """One whole file through the local engine's ingestion: (table, facts). Runs as a Ray task."""
    res = ingest([path], column_map, role_map=role_map)
    return _arrow(res.frame, part), {"rows": res.frame.height, "file": res.files[0], "quarantine": res.quarantine}


def _range_size(files: list[Path], cpus: int, cfg: CurateConfig) -> int:
    if cfg.ray.range_bytes:
        return cfg.ray.range_bytes
    total = sum(f.stat().st_size for f in files if f.is_file())
    return min(max(math.ceil(total / (4 * max(cpus, 1))), MIN_RANGE), MAX_RANGE)


def ingest_parts(inputs: list[str | Path], cfg: CurateConfig, cpus: int, exclude: list[Path] | None = None) -> Parts:
    """Read every input with Ray tasks (see the module docstring). Raises ``InputNotFoundError`` like
    :func:`curate.ingest.ingest`; bad content never raises, it is quarantined."""
    import ray

    scan = scan_inputs(inputs, exclude)
    cmap, rmap = cfg.ingest.column_map, cfg.ingest.role_map
    whole_task = ray.remote(read_whole).options(num_returns=2)
    range_task = ray.remote(read_range).options(num_returns=2)
    size = _range_size(scan.files, cpus, cfg)
    plan: list[tuple[str, list]] = []  # per file: ("whole", [(part, table, facts)]) or ("ranges", [...])
    part = 0
    for path in scan.files:
        ranged = is_plain_jsonl(path) and path.is_file() and path.stat().st_size > size
        if ranged:
            refs = []
            for start, end in line_ranges(path, path.stat().st_size, size):
                refs.append((part, *range_task.remote(str(path), start, end, part, cmap)))
                part += 1
            plan.append(("ranges", refs))
        else:
            plan.append(("whole", [(part, *whole_task.remote(str(path), part, cmap, rmap))]))
            part += 1
    tables, offsets, files, quarantine, row0 = [], [], [], [], 0
    for path, (kind, refs) in zip(scan.files, plan):
        if kind == "ranges":
            facts = ray.get([f for _, _, f in refs])
            if all(f["fast"] for f in facts) and len({f["columns"] for f in facts}) == 1:
                sha = ray.remote(file_sha256).remote(path)
                line0 = 0
                for (p, table, _), f in zip(refs, facts):
                    tables.append(table)
                    offsets.append((p, row0, line0))
                    row0, line0 = row0 + f["rows"], line0 + f["rows"]  # fast ranges: one row per line
                rows = line0
                fields = {k: sum(f["fields"][k] * f["rows"] for f in facts) / max(rows, 1) for k in facts[0]["fields"]}
                files.append(FileSummary(path=str(path), format="alpaca", rows=rows, quarantined=0,
                                         sha256=ray.get(sha), fields=fields))
                continue
            # some range is not clean JSONL: the whole file goes the row-by-row way, as it would locally
            refs = [(part, *whole_task.remote(str(path), part, cmap, rmap))]
            part += 1
        p, table, facts_ref = refs[0]
        f = ray.get(facts_ref)
        tables.append(table)
        offsets.append((p, row0, 0))
        row0 += f["rows"]
        files.append(f["file"])
        quarantine.extend(f["quarantine"])
    frame = pl.DataFrame(offsets, schema={"_part": pl.Int32, "_row0": pl.Int64, "_line0": pl.Int64}, orient="row")
    return Parts(tables=tables, offsets=frame, rows=row0, files=files, quarantine=quarantine, skipped=scan.skipped,
                 names=scan.names)
