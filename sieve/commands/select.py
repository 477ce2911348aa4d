"""``sieve select``: parse, call :mod:`curate.selection`, render."""

from __future__ import annotations

from pathlib import Path

from curate.errors import SieveError
from sieve.console import EXIT_ERROR, EXIT_USAGE, fail, out


def run_select(run_dir: Path, budget: str, strategy: str, seed: int, max_length: int | None, output: Path | None,
               model: str | None = None) -> int:
    from curate.selection import Budget, SelectError, select, write_selection
    from train.errors import TrainUsageError

    try:
        b = Budget.parse(budget)
        sel = select(run_dir, strategy, b, seed, max_length, model=model)
    except (SelectError, TrainUsageError) as exc:
        fail(str(exc), EXIT_USAGE)
    except SieveError as exc:
        fail(str(exc), EXIT_ERROR)
    dest = output or run_dir / f"select-{strategy}-{budget.replace(' ', '')}"
    man = write_selection(sel, dest, run_dir)
    out.print(f"sieve select: {man['selected']:,} of {man['pool']:,} rows, {man['tokens']:,} tokens, "
              f"strategy {strategy} (seed {seed}) -> {dest}/selected.jsonl")
    for note in man["notes"]:
        out.print(f"  note: {note}")
    return 0
