"""``sieve ingest`` and ``sieve inspect``: render the ingestion library's results."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from curate.errors import SieveError
from curate.formats import describe_mapping
from curate.ingest import FileSummary, IngestResult, ingest, write_quarantine
from sieve.console import EXIT_NOTHING_READ, EXIT_USAGE, console, fail, out, progress


def _ingest_with_progress(inputs: list[str], column_map: dict[str, str]) -> IngestResult:
    from curate.input_scan import expand_inputs

    try:
        files = expand_inputs(inputs)
    except SieveError as exc:
        fail(str(exc))
    with progress() as bar:
        task = bar.add_task("reading", total=len(files), rate="")

        def done(summary: FileSummary) -> None:
            bar.update(task, advance=1, rate=f"{Path(summary.path).name}: {summary.rows:,} rows")

        return ingest(files, column_map, on_file=done)


def quarantine_path(output: Path) -> Path:
    """Where ``sieve ingest -o X.parquet`` writes its quarantine: ``X.quarantine.jsonl``."""
    return output.with_suffix(".quarantine.jsonl")


def report_quarantine(result: IngestResult, where: Path) -> None:
    if not result.quarantine:
        return
    console.print(f"[yellow]{len(result.quarantine)} row(s) or file problem(s) quarantined[/] -> {escape(str(where))}")
    for rec in result.quarantine[:5]:
        console.print(f"  {rec.location()}: {rec.code}: {rec.error}" + (f" (field {rec.field})" if rec.field else ""),
                      markup=False)
    if len(result.quarantine) > 5:
        console.print(f"  ... and {len(result.quarantine) - 5} more in {where}", markup=False)


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(4)


def check_ingest_output(inputs: list[str], output: Path) -> None:
    """``-o`` must be a new or replaceable file that is none of the inputs; exits 2 (before any work)."""
    from curate.input_scan import expand_inputs

    if output.is_dir():
        fail(f"-o {output}: is a folder; sieve ingest writes one .parquet file", EXIT_USAGE)
    if output.suffix.lower() != ".parquet":
        fail(f"-o {output}: sieve ingest writes Parquet; name the file .parquet", EXIT_USAGE)
    if output.is_file() and _head(output) != b"PAR1":  # a data file of another kind: never replaced
        fail(f"-o {output}: exists and is not a Parquet file; Sieve replaces only its own .parquet output", EXIT_USAGE)
    try:
        files = expand_inputs(inputs)
    except SieveError as exc:
        fail(str(exc))
    if output.resolve() in {f.resolve() for f in files}:
        fail(f"-o {output}: is one of the inputs; it would be overwritten", EXIT_USAGE)
    if not output.parent.exists() and output.parent != Path(""):
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(f"-o {output}: cannot create its folder ({exc.strerror or exc})", EXIT_USAGE)


def run_ingest(inputs: list[str], output: Path, column_map: dict[str, str]) -> int:
    check_ingest_output(inputs, output)
    start = time.perf_counter()
    result = _ingest_with_progress(inputs, column_map)
    read_s = time.perf_counter() - start
    from curate.atomic import atomic_write

    atomic_write(output, lambda tmp: result.frame.write_parquet(tmp))
    qpath = quarantine_path(output)
    write_quarantine(result.quarantine, qpath)
    for f in result.files:
        out.print(f"{f.path}: {f.format or 'unknown format'}, {f.rows:,} rows, {f.quarantined} quarantined")
    out.print(f"read {result.frame.height:,} rows from {len(result.files)} file(s) in {read_s:.2f} s "
              f"({result.frame.height / max(read_s, 1e-9):,.0f} rows/s) -> {output}")
    report_quarantine(result, qpath)
    if result.exit_code == EXIT_NOTHING_READ:
        console.print("[bold red]nothing could be read[/]")
    return result.exit_code


def run_inspect(inputs: list[str], column_map: dict[str, str], examples: int) -> int:
    result = _ingest_with_progress(inputs, column_map)
    for f in result.files:
        table = Table(title=f"{f.path}", title_justify="left")
        table.add_column("field")
        table.add_column("filled", justify="right")
        for name, rate in f.fields.items():
            table.add_row(name, f"{rate:.1%}")
        out.print(table)
        out.print(f"format: {f.format or 'unknown'}   rows: {f.rows:,}   quarantined: {f.quarantined}")
        originals = [json.loads(m) for m in
                     result.frame.filter(result.frame["source_file"] == f.path).head(500)["metadata"]]
        for line in describe_mapping(originals):
            out.print(f"  maps {line}", markup=False)
        rows = result.frame.filter(result.frame["source_file"] == f.path).head(examples)
        for row in rows.iter_rows(named=True):
            out.print(f"[dim]line {row['source_line']}[/]", markup=True)
            out.print(json.dumps(row["messages"], ensure_ascii=False, indent=1)[:800], markup=False)
    report_quarantine(result, Path("(not written by inspect)"))
    return result.exit_code  # as ingest and curate: 0, 3 with quarantined input, 4 when nothing was read
