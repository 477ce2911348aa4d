"""The review store at scale: import, next row and text search on the 52k run and on a 1,000,000-row run
built from it. A script's helpers, not a test: it prints what it measured (bench/review_bench.py --scale).

The big run is what the importer reads, built directly: the 52k run's ``annotated.parquet`` copied until
``rows`` rows, each copy with its own ids, row numbers, source lines and duplicate clusters, and the
same manifest with another run id. The text repeats (a word found in 99 rows of 52k is in ~1,900 of 1M),
which is what a search's cost depends on: how many rows hold the word, and the index's size.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

NEXT = 50  # rows taken from the queue per store: enough for a median and a rough p95
SEARCHES = ("photosynthesis", "machine learning", "recipe", "the", "C++", '"quoted" AND -x*')


def build_run(source: Path, rows: int, out: Path) -> Path:
    """Write a curate run of ``rows`` rows into ``out`` from the run in ``source``; returns ``out``."""
    import polars as pl

    base = pl.read_parquet(source / "annotated.parquet")
    n = base.height
    copies = []
    for k in range(-(-rows // n)):
        tag = pl.lit(f"-{k}") if k else pl.lit("")
        copies.append(base.lazy().with_columns(
            id=pl.col("id") + tag, row_idx=pl.col("row_idx") + k * n, source_line=pl.col("source_line") + k * n,
            dup_cluster=pl.col("dup_cluster") + tag))
    out.mkdir(parents=True, exist_ok=True)
    pl.concat(copies).head(rows).sink_parquet(out / "annotated.parquet", row_group_size=50_000)
    man = json.loads((source / "manifest.json").read_text())
    man["run_id"] = f"{man.get('run_id') or 'unnamed'}-x{rows}"
    (out / "manifest.json").write_text(json.dumps(man))
    return out


def ms(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
    return f"median {statistics.median(xs) * 1000:7.1f} ms, p95 {p95 * 1000:7.1f} ms"


def next_rows(con, flt, who: str) -> tuple[list[float], list[float]]:
    """Take ``NEXT`` rows from the queue as the Row page does (lease the next row, then its place in
    the queue for the title), accepting or rejecting each; returns both timings per row."""
    from review_app import queue
    from review_app.decisions import Action, decide

    claim, shown = [], []
    for i in range(NEXT):
        t = time.perf_counter()
        row = queue.claim_next(con, f"s-{who}", who, flt, 90.0)
        claim.append(time.perf_counter() - t)
        if row is None:
            break
        queue.position(con, flt, row)
        shown.append(time.perf_counter() - t)
        kind = "reject" if i % 2 else "accept"
        try:
            decide(con, Action(row["id"], row["version"], f"s-{who}", who, kind, reason="bench"))
        except Exception:  # noqa: BLE001 - a row that cannot be accepted as it is: reject it, as a reviewer would
            decide(con, Action(row["id"], row["version"], f"s-{who}", who, "reject", reason="bench"))
    return claim, shown


def timed(fn, n: int = 5) -> list[float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def filter_choices(con) -> None:
    """What the app's sidebar reads for its Reason and Language lists (review_app/app.py)."""
    from review_app import queue

    queue.reasons_in_store(con)
    con.execute("SELECT DISTINCT lang FROM rows WHERE lang IS NOT NULL ORDER BY lang").fetchall()


def store_figures(run: Path, db: Path) -> None:
    from review_app import queue
    from review_app.importer import import_run
    from review_app.progress import progress
    from review_app.store import connect

    con = connect(db)
    t, cpu = time.perf_counter(), time.process_time()
    res = import_run(con, run)
    first, cpu = time.perf_counter() - t, time.process_time() - cpu
    t = time.perf_counter()
    again = import_run(con, run)
    second = time.perf_counter() - t
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 2**30
    # CPU seconds beside wall seconds: on a shared machine the wall clock says more about the neighbours.
    print(f"  import: {res.added:,} rows in {first:.1f} s ({res.added / first:,.0f} rows/s; {cpu:.1f} s of CPU, "
          f"all threads; load average {os.getloadavg()[0]:.1f}); store {size:.2f} GiB; re-import {second:.1f} s "
          f"({again.added} added, {again.kept:,} kept)")
    claim, shown = next_rows(con, queue.Filters(), "ada")
    print(f"  next row (claim_next): {ms(claim)} over {len(claim)}")
    print(f"  next row + its place in the queue (the Row page): {ms(shown)}")
    claim, _ = next_rows(con, queue.Filters(verdicts=(), search="water"), "bob")
    print(f"  next row among rows holding 'water' (any verdict): {ms(claim)}")
    for reason in ("length.response_too_short", "format.truncated"):  # a common reason, and a rare one
        claim, _ = next_rows(con, queue.Filters(reason=reason), f"eve-{reason}")
        print(f"  next row with reason {reason}: {ms(claim)} over {len(claim)}")
    claim, _ = next_rows(con, queue.DISPUTES, "cy")  # none disputed: the time to find that out
    print(f"  Disputes page, next row: {ms(claim)}")
    print(f"  Progress figures: {ms(timed(lambda: progress(con)))}; the sidebar's filter choices (cached for 5 "
          f"minutes): {ms(timed(lambda: filter_choices(con)))}")
    for text in SEARCHES:
        flt = queue.Filters(verdicts=(), statuses=(), search=text)
        n = queue.count(con, flt)
        times = timed(lambda: (queue.count(con, flt), queue.list_rows(con, flt, limit=50)))
        print(f"  search {text!r:>20}: {n:>9,} rows; count + first 50: {ms(times)}")
    where, args = queue.Filters().where()
    plan = con.execute(f"EXPLAIN QUERY PLAN SELECT id FROM rows WHERE {where} AND (lease_owner IS NULL OR "
                       "lease_until < 0) ORDER BY quality, row_idx LIMIT 1", args).fetchall()
    print("  next-row plan: " + " | ".join(r[3] for r in plan))  # as claim_next asks it
    con.close()


def scale_bench(run: Path, rows: int) -> None:
    """The store's figures on ``run`` and on a ``rows``-row run built from it."""
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        big = build_run(run, rows, Path(tmp) / "big")
        print(f"built a {rows:,}-row run from {run} in {time.perf_counter() - t:.1f} s")
        for label, path in ((f"{run}", run), (f"{rows:,} rows", big)):
            print(f"{label}:")
            store_figures(path, Path(tmp) / f"{path.name}.sqlite")
        shutil.rmtree(big)
