"""``sieve train --curve`` and ``sieve curve render``: parse, load config, call train.curve, render."""

from __future__ import annotations

import os
from pathlib import Path

from sieve.console import EXIT_USAGE, console, fail, load_config_or_fail, no_empty_folder_left, out, progress


def parse_sizes(curve: str) -> list | None:
    """``"50,100,200"`` -> sizes; ``"auto"`` -> ``None`` (planned from --budget-minutes)."""
    if curve.strip().lower() == "auto":
        return None
    try:
        sizes = [s if s == "all" else int(s) for s in (x.strip() for x in curve.split(",")) if s]
    except ValueError:
        sizes = []
    if not sizes:
        fail(f"--curve {curve!r}: expected sizes like 50,100,200,all (or auto with --budget-minutes)", EXIT_USAGE)
    return sizes


def run_curve_command(data: Path, output: Path, model, eval_files: list[Path], config, curve: str | None,
                      seeds, epochs, arms: list[str], match: str | None, budget_minutes: float | None,
                      overwrite: bool = False) -> int:
    from schemas.train_config import load_train_config

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sizes = parse_sizes(curve) if curve else None
    cfg = load_config_or_fail(load_train_config, config, model=model, epochs=epochs, **{
        "curve.seeds": seeds, "curve.sizes": sizes, "curve.arms": arms or None, "curve.match": match,
        "curve.budget_minutes": budget_minutes})
    plan = cfg.curve.budget_minutes is not None and sizes is None and seeds is None  # the budget: flag or -c file
    single = [key for key in ("max_steps", "merge") if getattr(cfg, key)]
    if single:
        fail(f"-c {config}: {', '.join(single)}: single-run settings; a curve trains each point for its epochs and "
             "keeps no adapter (remove them for --curve)", EXIT_USAGE)
    if cfg.curve.budget_minutes is None and sizes is None and "sizes" not in cfg.curve.model_fields_set:
        fail("--curve auto plans its sizes and seeds from --budget-minutes: add --budget-minutes N, or give "
             "sizes (--curve 50,100,200)", EXIT_USAGE)
    if not data.exists():
        fail(f"{data}: no such file or folder", EXIT_USAGE)
    for path in eval_files:
        if not path.exists():
            fail(f"--eval {path}: no such file or folder", EXIT_USAGE)
    from curate.errors import SieveError
    from train.curve import run_curve
    from train.errors import TrainUsageError

    try:
        with no_empty_folder_left(output), progress() as bar:
            task = bar.add_task("learning curve", total=None, rate="")

            def hook(event: str, p: dict) -> None:
                if event == "point":
                    bar.update(task, total=p["total"], completed=p["done"],
                               rate=f"ETA {p['eta_s'] / 60:.0f} min")
                    console.print(f"{p['arm']:>10} n={p['size']:<5} seed={p['seed']} rows={p['rows']:<5} "
                                  f"eval loss {p['eval_loss']:.4f} ({p['seconds']:.0f} s)")

            run_curve(data, output, cfg, eval_files, say=console.print, hook=hook, overwrite=overwrite,
                      plan_sizes=plan)
    except TrainUsageError as exc:
        fail(str(exc), EXIT_USAGE)
    except SieveError as exc:
        fail(str(exc))
    except (OSError, RuntimeError) as exc:
        if os.environ.get("SIEVE_DEBUG") == "1":
            raise
        fail(f"learning curve stopped: {exc} (finished points are kept; re-run the same command to resume)")
    out.print((output / "curve.md").read_text(), markup=False)
    out.print(f"curve: {output}/curve.json, curve.png, curve.md")
    return 0


def render_command(folder: Path) -> int:
    """Re-render a curve's report from its points (no model, no training)."""
    from train.curve_report import write_curve

    if not (folder / "curve_plan.json").is_file() or not (folder / "points.jsonl").is_file():
        fail(f"{folder}: not a learning-curve folder (no curve_plan.json and points.jsonl)", EXIT_USAGE)
    write_curve(folder)
    out.print((folder / "curve.md").read_text(), markup=False)
    out.print(f"re-rendered: {folder}/curve.json, curve.png, curve.md")
    return 0
