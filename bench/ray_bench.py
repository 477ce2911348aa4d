"""The Ray engine against the local engine on the same rows, in one process: rows/s, the ratio, and
whether every decision is the same.

Each engine curates the rows twice: the first run (cold: imports, compiled kernels, language model, and
for Ray the cluster's start and its worker processes) is reported apart from the second (warm). The local engine uses every core through polars; a Ray run with N CPUs runs N one-thread
tasks at a time. Ray starts here as a local cluster, as ``sieve curate --engine ray`` does without an
address.

  nice -n 19 python bench/ray_bench.py --rows 52000 --cpus 1 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from curate.pipeline import run_curate
from schemas.config import CurateConfig

ALPACA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca_52k" / "alpaca_data_52k.jsonl"
DECISION = ["id", "verdict", "reasons", "dup_cluster", "near_cluster", "exact_cluster", "prompt_cluster"]


def _slice(rows: int, folder: Path, name: str) -> Path:
    lines = ALPACA.read_text(encoding="utf-8").splitlines(keepends=True)
    path = folder / name
    path.write_text("".join(lines[:rows]), encoding="utf-8")
    return path


def _stages(result) -> str:
    return ", ".join(f"{s.name} {s.seconds:.1f}" for s in result.stages)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=52_000, help="rows of the Alpaca 52k file (at most 52,002)")
    ap.add_argument("--cpus", type=int, nargs="+", default=[1, 2], help="Ray CPUs, one run each")
    args = ap.parse_args()

    import ray

    from curate.engine_ray import TASK_ENV, run_curate_ray

    cfg = CurateConfig()
    with tempfile.TemporaryDirectory() as tmp:
        data = _slice(args.rows, Path(tmp), f"alpaca_{args.rows}.jsonl")
        start = time.perf_counter()
        run_curate([data], cfg)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        local = run_curate([data], cfg)
        base = time.perf_counter() - start
        n = local.frame.height
        print(f"{n:,} rows of {ALPACA.name}; warm runs (cold: the first run, with every start-up)")
        print(f"  local engine   {base:6.1f} s {n / base:7,.0f} rows/s  1.00x  cold {cold:5.1f} s  ({_stages(local)})")
        for cpus in args.cpus:
            start = time.perf_counter()
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": TASK_ENV})
            run_curate_ray([data], cfg)
            cold = time.perf_counter() - start
            start = time.perf_counter()
            res = run_curate_ray([data], cfg).result
            took = time.perf_counter() - start
            ray.shutdown()
            same = res.frame.select(DECISION).equals(local.frame.select(DECISION))
            print(f"  ray, {cpus} CPU{'s' if cpus > 1 else ' '}    {took:6.1f} s {n / took:7,.0f} rows/s  {took / base:4.2f}x  "
                  f"cold {cold:5.1f} s  ({_stages(res)})  identical decisions: {same}")

if __name__ == "__main__":
    main()
