"""The ``sieve`` command line: thin wrappers that parse, call the library and render.

Heavy libraries (torch, transformers, streamlit) are imported inside the commands that need them, so
``sieve --help`` stays instant.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from sieve import __version__
from sieve.console import EXIT_ERROR, EXIT_USAGE, console, fail, out

app = typer.Typer(
    name="sieve",
    help="Curate instruction-tuning data, review it in the browser, and LoRA-train on it.\n\n"
    "Example: sieve curate data.jsonl -o runs/demo",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,  # tracebacks only with --debug / SIEVE_DEBUG=1 (see run())
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        out.print(f"sieve {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                         help="Print the version and exit.")] = None,
         debug: Annotated[bool, typer.Option("--debug", help="Show the Python traceback of an unexpected error "
                                             "(also SIEVE_DEBUG=1).")] = False) -> None:
    """Curate instruction-tuning data, review it in the browser, and LoRA-train on it."""
    if debug:
        os.environ["SIEVE_DEBUG"] = "1"


# click's base of usage errors, whichever click typer runs on (recent typer ships its own copy)
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def run(argv: list[str] | None = None) -> int:
    """The ``sieve`` executable: the one error boundary. A library error (``SieveError``) is one line
    and exit 1; anything unexpected is one line naming the error and ``--debug``, exit 1. Returns the
    exit code (also for ``--help`` and usage errors)."""
    try:
        rc = app(args=argv, standalone_mode=False)  # a command's typer.Exit(code) comes back as its code
    except SystemExit as exc:  # typer.Exit inside a command, or click's own exit
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except _CLICK_ERROR as exc:  # usage errors: click's own one-line message
        exc.show()
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        rc = 130
    except Exception as exc:  # the last catch-all: one line, never a traceback unless asked
        if os.environ.get("SIEVE_DEBUG") == "1":
            import traceback

            traceback.print_exc()
        from curate.errors import SieveError

        if isinstance(exc, SieveError):
            console.print("[bold red]error:[/] " + escape(str(exc)))
        else:
            detail = str(exc).splitlines()[0][:300] if str(exc) else ""
            console.print(f"[bold red]error:[/] unexpected {type(exc).__name__}: {escape(detail)} "
                          "(run with --debug or SIEVE_DEBUG=1 for the traceback, and please report it)")
        return EXIT_ERROR
    if rc == 130:  # Ctrl-C: typer turns KeyboardInterrupt into exit code 130, silently
        console.print("[bold red]interrupted[/] (Ctrl-C): nothing was half-written; a run folder holds its "
                      "last finished run or nothing")
    return rc if isinstance(rc, int) else 0


def entry() -> None:
    """Console-script entry point."""
    sys.exit(run())


def parse_column_map(items: list[str] | None, flag: str = "--column-map",
                     example: str = "question=instruction") -> dict[str, str]:
    """``["src=dst", ...]`` -> ``{"src": "dst"}``; a malformed item is a usage error naming it."""
    mapping: dict[str, str] = {}
    for item in items or []:
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            fail(f"{flag} {item!r}: expected SRC=DST, e.g. {flag} {example}", EXIT_USAGE)
        if mapping.get(src, dst) != dst:
            fail(f"{flag} {src!r} is given twice ({src}={mapping[src]}, {item}): map each source once", EXIT_USAGE)
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


@app.command()
def curate(
    inputs: Annotated[Optional[list[str]], typer.Argument(help="Files, folders or globs to curate.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output folder.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML file overriding defaults.")] = None,
    eval_files: Annotated[Optional[list[str]], typer.Option(
        "--eval", "-e", help="Eval set(s): rows whose prompt overlaps one are flagged contamination.eval.")] = None,
    output_format: Annotated[Optional[str], typer.Option(
        help="Format of curated/review/rejected.jsonl: auto (Alpaca when every row of the run is single-turn, "
             "else messages), alpaca (a row Alpaca cannot hold is written whole as messages) or messages.")] = None,
    column_map: ColumnMapOpt = None,
    role_map: Annotated[Optional[list[str]], typer.Option(
        "--role-map", "-r", help="Map a role value to system, user or assistant: SRC=DST (repeatable).")] = None,
    model_signals: Annotated[bool, typer.Option(
        "--model-signals", help="Also score every row with a small language model: perplexity and IFD "
        "(cached; about an hour per 50k rows on 2 CPU cores).")] = False,
    semantic: Annotated[bool, typer.Option(
        "--semantic", help="Also find semantic duplicates (all-MiniLM-L6-v2 embeddings, cached): dedup.semantic.")] = False,
    model: Annotated[Optional[str], typer.Option(
        "--model", help="With --model-signals: 'smollm2' (default, shipped), a local HF folder or a hub id.")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="List every rule, its default and why; then exit.")] = False,
    engine: Annotated[Optional[str], typer.Option(
        "--engine", help="local (default: one process) or ray (Ray tasks; pip install -e '.[ray]'): same verdicts.")] = None,
    ray_address: Annotated[Optional[str], typer.Option(
        "--ray-address", help="With --engine ray: the cluster to join (else RAY_ADDRESS, else a local Ray).")] = None,
    memory_limit: Annotated[Optional[str], typer.Option(
        "--memory-limit", help="Local engine: the memory to stay near (4G, 512M, 30%% of RAM; default 15%%). "
        "Input bigger than a chunk sized from it is streamed through disk.")] = None,
) -> None:
    """Validate, deduplicate and score every row; write curated/review/rejected sets and a report.

    Outputs in DIR: annotated.parquet, curated.jsonl, review.jsonl, rejected.jsonl, quarantine.jsonl,
    manifest.json, report.html. Exit codes as for ingest (0, 3 with quarantined rows, 4 nothing read).

    Examples:
      sieve curate ../shared/data/alpaca_52k/alpaca_data_52k.jsonl -o runs/alpaca
      sieve curate outputs.json -o runs/x --eval self_instruct.jsonl --config strict.toml
      sieve curate chats.jsonl -o runs/chats --role-map Kunde=user --role-map Berater=assistant
      sieve curate data.jsonl -o runs/scored --model-signals
      sieve curate huge.jsonl -o runs/huge --memory-limit 4G
      sieve curate big/*.jsonl -o runs/big --engine ray --ray-address auto
      sieve curate --explain
    """
    from sieve.commands.curate import run_curate_command, run_explain

    if explain:
        raise typer.Exit(run_explain(config))
    if not inputs or output is None:
        fail("curate needs INPUT... and -o DIR (or --explain)", EXIT_USAGE)
    raise typer.Exit(run_curate_command(inputs, output, config, eval_files or [], output_format,
                                        parse_column_map(column_map),
                                        parse_column_map(role_map, "--role-map", "Kunde=user"),
                                        model_signals, model, semantic, engine, ray_address, memory_limit))


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="A `sieve curate` output folder, or any file Sieve can ingest.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (adapter, metrics, manifest).")],
    model: Annotated[Optional[str], typer.Option(help="Base model: 'smollm2' (default, offline), a folder or a hub id.")] = None,
    eval_files: Annotated[Optional[list[Path]], typer.Option(
        "--eval", help="Held-out eval set (else a fixed split). Repeatable for --curve: each file is reported.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML file overriding defaults.")] = None,
    curve: Annotated[Optional[str], typer.Option(help="Learning curve sizes, e.g. 50,100,200,all; 'auto' with "
                                                 "--budget-minutes.")] = None,
    seeds: Annotated[Optional[int], typer.Option(help="Seeds per curve point.")] = None,
    arm: Annotated[Optional[list[str]], typer.Option(
        "--arm", help="Extra curve arm: a sieve select strategy (quality, ifd, diverse, deita). Repeatable.")] = None,
    match: Annotated[Optional[str], typer.Option(help="Curve arms train on equal 'examples' (default) or equal "
                                                 "'tokens' (trained assistant tokens).")] = None,
    budget_minutes: Annotated[Optional[float], typer.Option(
        help="Fit the curve in this many minutes: sizes and seeds are planned from measured speed (or, when "
        "given, estimated with a warning).")] = None,
    epochs: Annotated[Optional[float], typer.Option(help="Passes over the training rows.")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many optimizer steps.")] = None,
    qlora: Annotated[bool, typer.Option("--qlora", help="4-bit base weights (CUDA + bitsandbytes).")] = False,
    merge: Annotated[bool, typer.Option("--merge", help="Also write the merged model.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start afresh in -o, removing what an earlier "
                                            "sieve train wrote there (never other files).")] = False,
) -> None:
    """LoRA-train the base model on DATA; with --curve, a learning curve of the curated rows beside the
    random and longest rows of the raw input.

    Re-running the same command after a kill resumes: from the last checkpoint, or from the last
    finished curve point.

    Examples:
      sieve train runs/alpaca -o runs/alpaca-lora --eval ../shared/data/self_instruct_252/user_oriented_252_alpaca.jsonl
      sieve train runs/alpaca -o runs/curve --curve 50,100,200 --seeds 3 --eval evals/self_instruct.jsonl --eval evals/other.jsonl
      sieve train runs/alpaca -o runs/curve --curve auto --budget-minutes 45 --arm deita --match tokens
      sieve curve render runs/curve
    """
    eval_files = eval_files or []
    if curve or budget_minutes is not None:
        from sieve.commands.curve import run_curve_command

        ignored = [flag for flag, given in (("--max-steps", max_steps is not None), ("--qlora", qlora),
                                            ("--merge", merge)) if given]
        if ignored:
            what = "single-run options" if len(ignored) > 1 else "a single-run option"
            fail(f"{', '.join(ignored)}: {what}; a curve trains each point for --epochs and keeps no adapter "
                 "(leave them out, or leave out --curve)", EXIT_USAGE)

        raise typer.Exit(run_curve_command(data, output, model, eval_files, config, curve or "auto", seeds, epochs,
                                           arm or [], match, budget_minutes, overwrite=overwrite))
    if arm or match or seeds is not None:
        fail("--arm, --match and --seeds are learning-curve options: add --curve SIZES", EXIT_USAGE)
    if len(eval_files) > 1:
        fail("--eval: one training run evaluates on one file; several are for --curve", EXIT_USAGE)
    from sieve.commands.train import run_train_command

    raise typer.Exit(run_train_command(data, output, model, eval_files[0] if eval_files else None, config, epochs,
                                       max_steps, qlora, merge, overwrite=overwrite))


curve_cli = typer.Typer(help="Learning-curve reports (a curve is trained by `sieve train --curve`).",
                        no_args_is_help=True)


@curve_cli.command("render")
def curve_render(folder: Annotated[Path, typer.Argument(help="A learning-curve output folder.")]) -> None:
    """Re-render curve.json, curve.png and curve.md from a curve's points (no model needed).

    Example:
      sieve curve render runs/curve
    """
    from sieve.commands.curve import render_command

    raise typer.Exit(render_command(folder))


app.add_typer(curve_cli, name="curve")


@app.command("select")
def select_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A `sieve curate` run folder.")],
    budget: Annotated[str, typer.Option(help="Rows (500) or tokens (50k-tokens, training tokenizer).")],
    strategy: Annotated[str, typer.Option(help="random, quality, ifd (needs --model-signals), longest, diverse "
                                          "or deita (both on MiniLM embeddings).")] = "quality",
    seed: Annotated[int, typer.Option(help="Seed of the random strategy.")] = 0,
    max_length: Annotated[Optional[int], typer.Option(
        min=16, help="Training length (default: sieve train's): longer rows are never selected.")] = None,
    model: Annotated[Optional[str], typer.Option(help="The model whose tokenizer counts tokens (default: sieve train's).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output folder (default RUN_DIR/select-STRATEGY-BUDGET).")] = None,
) -> None:
    """Choose a training set at a budget from the rows a run approved; writes selected.jsonl and a manifest.

    Examples:
      sieve select runs/alpaca --budget 1000 --strategy quality
      sieve select runs/alpaca --budget 50k-tokens --strategy random --seed 1
    """
    from sieve.commands.select import run_select

    raise typer.Exit(run_select(run_dir, budget, strategy, seed, max_length, output, model))


@app.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="The user prompt.")],
    adapter: Annotated[Optional[list[Path]], typer.Option("--adapter", "-a", help="A `sieve train` output (repeatable).")] = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Longest answer, in tokens.")] = 128,
) -> None:
    """Answer PROMPT with the base model and each adapter, side by side.

    Example: sieve generate "Give three tips for staying healthy." -a runs/alpaca-lora
    """
    from sieve.commands.train import run_generate_command

    raise typer.Exit(run_generate_command(prompt, adapter or [], max_new_tokens))


def _add_review() -> None:
    # a typer sub-app: `sieve review RUN` (open implied) and `sieve review export DB -o F`
    from sieve.commands.review import review_cli

    app.add_typer(review_cli, name="review")


_add_review()


if __name__ == "__main__":  # python -m sieve.cli, used by bench/ to run the installed code in a child
    entry()
