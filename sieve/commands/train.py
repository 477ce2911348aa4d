"""``sieve train`` and ``sieve generate``: parse, load config, call the train library, render.

Under ``torchrun`` every process runs ``sieve train``; rank 0 alone shows progress, results and errors.
The other ranks stop with the same exit code, quietly, unless the error is their own and not a domain
error (a GPU out of memory on rank 1, say), which they print with their rank."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from sieve.console import (EXIT_QUARANTINED, EXIT_USAGE, console, fail, load_config_or_fail, no_empty_folder_left,
                           out, progress)


def _config(config: Path | None, **overrides):
    from schemas.train_config import load_train_config

    return load_config_or_fail(load_train_config, config, **overrides)


def run_train_command(data, output, model, eval_file, config, epochs, max_steps, qlora, merge,
                      overwrite: bool = False) -> int:
    """One training run (a learning curve is :func:`sieve.commands.curve.run_curve_command`)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    cfg = _config(config, model=model, epochs=epochs, max_steps=max_steps, qlora=qlora or None, merge=merge or None)
    if not data.exists():
        fail(f"{data}: no such file or folder", EXIT_USAGE)
    if eval_file is not None and not eval_file.exists():
        fail(f"--eval {eval_file}: no such file or folder", EXIT_USAGE)
    from curate.errors import SieveError
    from train.distributed import env_rank
    from train.errors import TrainUsageError
    from train.recipe import run_train

    rank = env_rank()
    try:
        with no_empty_folder_left(output), progress(disable=rank != 0) as bar:
            task = bar.add_task("training", total=None, rate="")

            def hook(event: str, p: dict) -> None:
                if event == "step":
                    bar.update(task, total=p["total"], completed=p["step"],
                               rate=f"loss {p['loss']:.3f} | {p['tokens_per_s']:,.0f} tokens/s")
                elif event == "eval":
                    console.print(f"step {p['step']}: eval loss {p['eval_loss']:.4f} (perplexity {p['perplexity']:.2f})")
                elif event == "resume":
                    console.print(f"resuming from the checkpoint at step {p['step']}")
                elif event == "restore":
                    console.print(f"restored the adapter of step {p['step']} (best eval loss {p['eval_loss']:.4f})")

            man = run_train(data, output, cfg, eval_file, hook=hook, say=out.print, overwrite=overwrite)
    except TrainUsageError as exc:
        _fail_on(rank, str(exc), EXIT_USAGE)
    except SieveError as exc:  # the same on every rank (or rank 0's, handed on): rank 0 says it
        _fail_on(rank, str(exc))
    except (OSError, RuntimeError) as exc:  # a full disk, memory run out: one line unless SIEVE_DEBUG=1
        if os.environ.get("SIEVE_DEBUG") == "1":
            raise
        fail(f"{f'rank {rank}: ' if rank else ''}training stopped: {str(exc).splitlines()[0] if str(exc) else exc!r}")
    if rank != 0:
        return 0
    r = man["result"]

    def loss(value) -> str:
        return f"{value:.4f}" if value is not None else "n/a"

    out.print(f"trained {r['steps']} steps, {r['tokens']:,} tokens in {r['seconds']:.1f} s "
              f"({r['tokens_per_s']:,.0f} tokens/s); eval loss {loss(r['base_eval_loss'])} -> {loss(r['eval_loss'])}"
              + (" (stopped early)" if r["stopped_early"] else "")
              + (f" (adapter of step {r['best_step']}, the best)" if r.get("restored_best") else ""))
    out.print(f"adapter: {output}/adapter  metrics: {output}/metrics.jsonl  manifest: {output}/manifest.json")
    unread = man["data"].get("unreadable", 0) + man["data"].get("eval_unreadable", 0)
    # the warning above named them; under torchrun every rank must exit 0, or its agent calls the run failed
    return EXIT_QUARANTINED if unread and man.get("distributed", {}).get("world_size", 1) == 1 else 0


def _fail_on(rank: int, message: str, code: int = 1) -> None:
    """``fail`` on rank 0; on the other ranks, the same exit code without a second copy of the line."""
    if rank == 0:
        fail(message, code)
    raise typer.Exit(code)


def run_generate_command(prompt: str, adapters: list[Path], max_new_tokens: int) -> int:
    from curate.errors import SieveError
    from train.errors import TrainUsageError
    from train.generate import generate

    try:
        answers = generate(prompt, adapters, max_new_tokens)
    except TrainUsageError as exc:
        fail(str(exc), EXIT_USAGE)
    except SieveError as exc:
        fail(str(exc))
    for name, answer in answers.items():
        out.print(f"[bold]{name}[/]", markup=True)
        out.print(answer, markup=False)
    return 0
