"""Benchmark the review store at Alpaca scale: import a 52,002-row curate run, then time moving to the
next row and applying actions. A script, not a test.

    python bench/review_bench.py runs/alpaca     # a `sieve curate` output folder (52k rows)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from review_app import queue
    from review_app.decisions import Action, decide
    from review_app.importer import import_run
    from review_app.store import connect

    run = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "runs" / "alpaca")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "review.sqlite"
        con = connect(db)
        start = time.perf_counter()
        counts = import_run(con, run)
        first = time.perf_counter() - start
        start = time.perf_counter()
        import_run(con, run)
        again = time.perf_counter() - start
        total = con.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
        print(f"import {run}: {total:,} rows in {first:.2f} s ({total / first:,.0f} rows/s); "
              f"re-import (idempotent, {counts.added:,} added first time) {again:.2f} s")
        flt = queue.Filters()
        nxt, act = [], []
        for i in range(100):
            t = time.perf_counter()
            row = queue.claim_next(con, "s-bench", "bench", flt, 90.0)
            nxt.append(time.perf_counter() - t)
            t = time.perf_counter()
            if i % 3 == 1:
                queue.skip(con, row["id"], "s-bench")
            else:
                decide(con, Action(row["id"], row["version"], "s-bench", "bench", ("accept", "", "reject")[i % 3],
                                   reason="low quality" if i % 3 == 2 else None))
            act.append(time.perf_counter() - t)
        for name, xs in (("next row", nxt), ("action", act)):
            xs = sorted(xs)
            print(f"{name:>8}: median {statistics.median(xs) * 1000:.1f} ms, p95 {xs[94] * 1000:.1f} ms, "
                  f"max {xs[-1] * 1000:.1f} ms over 100 (queue of {queue.count(con, flt):,} review rows)")
        t = time.perf_counter()
        n = queue.count(con, queue.Filters(verdicts=(), search="photosynthesis"))
        print(f"  search: {n} rows matching 'photosynthesis' among {total:,} in {(time.perf_counter() - t) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
