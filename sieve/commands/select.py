"""``sieve select``: parse, call :mod:`curate.selection`, render."""

from __future__ import annotations

from pathlib import Path

from curate.errors import SieveError
from sieve.console import EXIT_ERROR, EXIT_USAGE, fail, no_empty_folder_left, out


def run_select(run_dir: Path, budget: str, strategy: str, seed: int, max_length: int | None, output: Path | None,
               model: str | None = None) -> int:
    from curate.errors import OutputError
    from curate.run_folder import prepare_output
    from curate.selection import Budget, SelectError, select, write_selection
    from train.errors import TrainUsageError

    dest = output or run_dir / f"select-{strategy}-{budget.replace(' ', '')}"
    try:
        with no_empty_folder_left(dest):
            b = Budget.parse(budget)
            if output is not None:  # before any work, as sieve curate does: a bad -o fails in a second
                prepare_output(output)  # (the default, inside the run folder, is checked by write_selection)
            sel = select(run_dir, strategy, b, seed, max_length, model=model)
            man = write_selection(sel, dest, run_dir)
    except SieveError as exc:
        fail(str(exc), EXIT_USAGE if isinstance(exc, (SelectError, TrainUsageError, OutputError)) else EXIT_ERROR)
    out.print(f"sieve select: {man['selected']:,} of {man['pool']:,} rows, {man['tokens']:,} tokens, "
              f"strategy {strategy} (seed {seed}) -> {dest}/selected.jsonl")
    for note in man["notes"]:
        out.print(f"  note: {note}")
    return 0
