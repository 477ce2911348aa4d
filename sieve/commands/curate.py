"""``sieve curate``: load the config, run the pipeline with progress bars, write and summarise."""

from __future__ import annotations

import time
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from curate.errors import EvalSetError, OutputError, SieveError
from sieve.console import (EXIT_ERROR, EXIT_NOTHING_READ, EXIT_QUARANTINED, EXIT_USAGE, console, fail,
                           load_config_or_fail, no_empty_folder_left, out, progress)
from sieve.commands.ingest import report_quarantine


def load_config(path: Path | None, **overrides):
    from schemas.config import load_curate_config

    return load_config_or_fail(load_curate_config, path, **overrides)


def run_explain(config: Path | None) -> int:
    from curate.explain import rule_table

    cfg = load_config(config)
    table = Table(title="sieve curate rules", title_justify="left")
    for col in ("code", "action", "setting", "value", "why"):
        table.add_column(col, no_wrap=col != "why")
    for row in rule_table(cfg):
        table.add_row(*row.values())
    from rich.console import Console

    Console(width=max(out.width, 160), highlight=False).print(table)
    out.print("Override in TOML, e.g. [rules] min_response_chars = 10 ; [actions] \"pii.email\" = \"drop\"; "
              "a [rules] threshold set to \"none\" switches its rule off ([dedup] near = false turns near "
              "dedup off).")
    return 0


def run_curate_command(inputs: list[str], output: Path, config: Path | None, eval_files: list[str],
                       output_format: str | None, column_map: dict[str, str],
                       role_map: dict[str, str] | None = None, model_signals: bool = False,
                       model: str | None = None, semantic: bool = False, engine: str | None = None,
                       ray_address: str | None = None, memory_limit: str | None = None) -> int:
    from curate.engine_stream import curate_local, spill_space
    from curate.outputs import write_outputs
    from curate.run_folder import prepare_output, run_lock

    flags = {"output_format": output_format, "ingest.column_map": column_map, "ingest.role_map": role_map,
             "model_signals.enabled": model_signals, "model_signals.model": model,
             "dedup.semantic": semantic, "engine": engine, "ray.address": ray_address, "memory.limit": memory_limit}
    overrides = {key: value for key, value in flags.items() if value}  # a flag not given changes nothing
    cfg = load_config(config, **overrides)
    if ray_address and cfg.engine != "ray":
        fail("--ray-address: only with --engine ray", EXIT_USAGE)
    if memory_limit and cfg.engine == "ray":
        fail("--memory-limit: only with the local engine (Ray workers take their memory from the cluster)", EXIT_USAGE)
    start = time.perf_counter()
    try:
        with no_empty_folder_left(output):  # a failed or interrupted run leaves no empty folder it made
            if cfg.engine == "ray":
                from curate.engine_ray import check_supported

                check_supported(cfg)  # a missing Ray or an unsupported flag fails before anything starts
            prepare_output(output)  # before any work: a bad -o fails in a second, not after the pipeline
            with run_lock(output), progress() as bar:
                tasks: dict[str, int] = {}
                stage_start: dict[str, float] = {}

                def hook(name: str, done: int, total: int) -> None:
                    if name not in tasks:
                        tasks[name] = bar.add_task(f"{name:<12}", total=max(total, 1), rate="")
                        stage_start[name] = time.perf_counter()
                    elapsed = time.perf_counter() - stage_start[name]
                    rate = f"{done / elapsed:,.0f} rows/s" if elapsed > 0 and done else ""
                    bar.update(tasks[name], completed=done, total=max(total, 1), rate=rate)

                # the output folder is never read back as input, even when it sits inside an input folder
                if cfg.engine == "ray":
                    from curate.engine_ray import run_curate_ray, write_parts

                    with spill_space(output) as spill:  # the driver's copy of the blocks, a block at a time
                        result = run_curate_ray(inputs, cfg, eval_files, hook=hook, exclude=[output],
                                                spill=spill).result
                        man = write_outputs(result, output,
                                            extra=lambda stage: write_parts(result.parts or [], stage / "annotated"))
                        unknown = unknown_roles(result.frame)
                else:
                    with spill_space(output) as spill:  # a streamed run's chunks, removed once the outputs are written
                        result = curate_local(inputs, cfg, spill, eval_files, hook=hook, exclude=[output])
                        man = write_outputs(result, output)
                        unknown = unknown_roles(result.frame)
    except SieveError as exc:  # (Ctrl-C goes on to sieve.cli.run: one line, exit 130)
        from train.errors import TrainUsageError  # a --model that cannot be loaded is a usage error

        fail(str(exc), EXIT_USAGE if isinstance(exc, (OutputError, EvalSetError, TrainUsageError)) else EXIT_ERROR)
    print_summary(man, time.perf_counter() - start, output)
    report_quarantine(result, output / "quarantine.jsonl")
    if unknown:
        console.print("[yellow]roles Sieve does not know[/] (rows get structure.unknown_role): "
                      + escape(", ".join(f"{r!r} x{n:,}" for r, n in unknown.items())
                               + f"; map each to user or assistant with --role-map, e.g. --role-map {next(iter(unknown))}=user"))
    if man["counts"]["rows"] == 0:
        console.print("[bold red]nothing could be read[/] (every row or file is in quarantine.jsonl)")
        return EXIT_NOTHING_READ
    return EXIT_QUARANTINED if result.quarantine else 0


def unknown_roles(frame) -> dict[str, int]:
    """Role values other than system/user/assistant, with their counts (most common first)."""
    import polars as pl

    roles = frame.lazy().select(r=pl.col("messages").list.eval(pl.element().struct.field("role"))).explode("r")
    odd = (roles.filter(~pl.col("r").is_in(["system", "user", "assistant"])).group_by("r").len()
           .sort(["len", "r"], descending=[True, False]).collect())
    return dict(odd.iter_rows())


def print_summary(man: dict, seconds: float, output: Path) -> None:
    c = man["counts"]
    out.print(f"sieve curate: {c['rows']:,} rows in {seconds:.1f} s ({c['rows'] / seconds:,.0f} rows/s end to end), "
              f"run {man['run_id'][:12]}")
    out.print(f"  keep {c['keep']:,} | review {c['review']:,} | drop {c['drop']:,} | quarantined {c['quarantined']:,}")
    for s in man["stages"]:
        out.print(f"  stage {s['name']:<12} {s['seconds']:7.2f} s  {s['rows_per_s'] or 0:>10,.0f} rows/s")
    _print_memory(man.get("memory"))
    out.print("  top reasons: " + ", ".join(f"{k} {v:,}" for k, v in list(man["reasons"].items())[:8]))
    if len(man.get("languages", {})) > 0:
        out.print("  languages per file (share of rows using each, in prompt or response; * expected):")
        for file, mix in list(man["languages"].items())[:12]:
            exp = set(man["expected_languages"].get(file, []))
            out.print(f"    {Path(file).name}: " + ", ".join(
                f"{lang}{'*' if lang in exp else ''} {share:.0%}" for lang, share in list(mix.items())[:4]), markup=False)
    if man.get("model_signals"):
        ms = man["model_signals"]
        rate = ms["tokens"] / ms["seconds"] if ms["seconds"] else 0
        out.print(f"  model signals ({ms['model']}): {ms['scored']:,} rows scored, {ms['cached']:,} from the cache, "
                  f"{ms['tokens']:,} tokens in {ms['seconds']:.1f} s ({rate:,.0f} tokens/s)")
    if man.get("format_fallback"):
        out.print(f"  written as messages (Alpaca cannot hold them): "
                  + ", ".join(f"{name} {n:,}" for name, n in man["format_fallback"].items()))
    if man.get("skipped_inputs"):
        out.print(f"  skipped {len(man['skipped_inputs'])} file(s) in the inputs: "
                  + "; ".join(man["skipped_inputs"][:5]) + (" ..." if len(man["skipped_inputs"]) > 5 else ""))
    parts = ", annotated/ (Parquet parts)" if man.get("engine") == "ray" else ""
    out.print(f"  outputs: {output}/ (curated.jsonl, review.jsonl, rejected.jsonl, annotated.parquet{parts}, "
              f"report.html, manifest.json)")


def _print_memory(mem: dict | None) -> None:
    """One line on the memory limit: streamed or not, and the peak against the limit (a warning above it)."""
    if not mem:
        return
    gib = 1 << 30
    peak, limit = mem["peak_rss_bytes"] / gib, mem["limit_bytes"] / gib
    size = (f"{mem['chunk_bytes'] / (1 << 20):,.0f} MiB" if mem["chunk_bytes"] >= 1 << 20
            else f"{mem['chunk_bytes'] / 1024:,.0f} KiB")
    how = (f"streamed in {mem['chunks']:,} chunk{'s' if mem['chunks'] != 1 else ''} of about {size} of input, "
           "spilled to disk" if mem["streamed"] else
           f"in memory ({mem['why_not']})" if mem.get("why_not") else "in memory (the input fits one chunk)")
    line = f"  memory: peak {peak:.2f} GiB, limit {limit:.2f} GiB; {how}"
    if peak > limit:
        console.print(f"[yellow]{line}: the peak passed the limit[/] (the limit sizes the chunks; what is kept "
                      "for every row grows with the input: a lower --memory-limit makes smaller chunks, "
                      "docs/scale.md says what stays in memory)", markup=True)
    else:
        out.print(line, markup=False)
