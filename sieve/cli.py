"""The ``sieve`` command line: thin wrappers that parse, call the library and render.

Heavy libraries (torch, transformers, streamlit) are imported inside the commands that need them, so
``sieve --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sieve import __version__
from sieve.console import EXIT_USAGE, console, fail, out

app = typer.Typer(
    name="sieve",
    help="Curate instruction-tuning data, review it in the browser, and LoRA-train on it.\n\n"
    "Example: sieve curate data.jsonl -o runs/demo",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        out.print(f"sieve {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                         help="Print the version and exit.")] = None) -> None:
    """Curate instruction-tuning data, review it in the browser, and LoRA-train on it."""


def parse_column_map(items: list[str] | None) -> dict[str, str]:
    """``["src=dst", ...]`` -> ``{"src": "dst"}``; a malformed item is a usage error naming it."""
    mapping: dict[str, str] = {}
    for item in items or []:
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            fail(f"--column-map {item!r}: expected SRC=DST, e.g. --column-map question=instruction", EXIT_USAGE)
        mapping[src] = dst
    return mapping


InputsArg = Annotated[list[str], typer.Argument(help="Files, folders or globs (JSONL, JSON, CSV, Parquet, .gz).")]
ColumnMapOpt = Annotated[Optional[list[str]], typer.Option(
    "--column-map", "-m", help="Rename a source column to a Sieve field: SRC=DST (repeatable).")]


@app.command()
def ingest(
    inputs: InputsArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Normalised data set (.parquet).")],
    column_map: ColumnMapOpt = None,
) -> None:
    """Read raw data into one normalised Parquet file, plus OUT.quarantine.jsonl for unreadable rows.

    Exit codes: 0 everything read, 3 finished with quarantined rows, 4 nothing readable.

    Example: sieve ingest ../shared/data/alpaca_zh_partial/original/ -o zh.parquet
    """
    from sieve.commands.ingest import run_ingest

    raise typer.Exit(run_ingest(inputs, output, parse_column_map(column_map)))


@app.command()
def inspect(inputs: InputsArg, column_map: ColumnMapOpt = None,
            examples: Annotated[int, typer.Option(help="Example rows to show per file.")] = 2) -> None:
    """Show each file's detected format, row count, field fill rates and a few example rows.

    Example: sieve inspect ../shared/data/lima/lima_1029_messages.jsonl
    """
    from sieve.commands.ingest import run_inspect

    raise typer.Exit(run_inspect(inputs, parse_column_map(column_map), examples))
