"""Benchmark review at Alpaca scale. A script, not a test.

1. The store: import a 52,002-row curate run, then time leasing the next row and applying actions.
2. The Progress and Stats pages on that store after a team's day (three reviewers, bulk and one-row
   decisions, overlapping rows): the functions they call, and the pages rendered through AppTest.
   Target: each page under 1 s.
3. The app in a real browser (Debian's Chromium through Playwright): time from page load to the first
   row, and from a key press (A) and from a click (Accept) to the next row on screen; median and p95.

    python bench/review_bench.py runs/alpaca            # a `sieve curate` output folder (52k rows)
    python bench/review_bench.py runs/alpaca --store    # the store part only
    python bench/review_bench.py runs/alpaca --pages    # the Progress and Stats pages only
    python bench/review_bench.py runs/alpaca --scale    # the store at 52k and at 1,000,000 rows

4. ``--scale [--rows N]``: the store on the 52k run and on an N-row run (default 1,000,000) built from
   it (bench/review_scale.py): import seconds, next-row latency, text search through the FTS5 index.
   Targets: import under 60 s, next row under 300 ms at 1M rows.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SAMPLES = 30  # per input kind: enough for a stable median and a rough p95 in well under a minute
RENDERS = 7  # per page: pages take tenths of a second, so 7 give a stable median in seconds
TITLE = re.compile(r"^row [\d,]+ of ")


def summary(name: str, xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
    return f"{name:>14}: median {statistics.median(xs) * 1000:6.1f} ms, p95 {p95 * 1000:6.1f} ms over {len(xs)}"


def store_bench(run: Path, db: Path) -> None:
    from review_app import queue
    from review_app.decisions import Action, decide
    from review_app.importer import import_run
    from review_app.store import connect

    con = connect(db)
    start = time.perf_counter()
    res = import_run(con, run)
    first = time.perf_counter() - start
    start = time.perf_counter()
    import_run(con, run)
    again = time.perf_counter() - start
    total = con.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    print(f"import {run}: {total:,} rows in {first:.2f} s ({total / first:,.0f} rows/s); "
          f"re-import (idempotent, {res.added:,} added first time) {again:.2f} s")
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
    print(summary("next row", nxt))
    print(summary("action", act))
    t = time.perf_counter()
    n = queue.count(con, queue.Filters(verdicts=(), search="photosynthesis"))
    print(f"        search: {n} rows matching 'photosynthesis' among {total:,} in {(time.perf_counter() - t) * 1000:.0f} ms")
    con.close()


def team_day(con) -> int:
    """Decisions of a team's day on the store: ada, bob and eve each bulk-decide 4,000 rows of their own
    and 300 one row at a time; bob also decides 1,000 of ada's rows (agreement). Returns the decisions."""
    from review_app import queue
    from review_app.bulk import Pick, bulk_picked
    from review_app.decisions import Action, decide

    rows = queue.list_rows(con, queue.Filters(verdicts=()), limit=13_000)
    for k, who in enumerate(("ada", "bob", "eve")):
        mine = rows[k * 4_300:(k + 1) * 4_300]
        for start in range(0, 4_000, 500):  # bulk actions of 500 picked rows, as the Table page makes them
            kind = "reject" if start % 1_500 == 0 else "accept"
            bulk_picked(con, f"s-{who}", who, [Pick(r["id"], r["version"]) for r in mine[start:start + 500]],
                        kind, "low quality" if kind == "reject" else None)
        for r in mine[4_000:]:
            try:
                decide(con, Action(r["id"], r["version"], f"s-{who}", who, "accept"))
            except Exception:  # noqa: BLE001 - an invalid row: rejected instead, as a reviewer would
                decide(con, Action(r["id"], r["version"], f"s-{who}", who, "reject", reason="broken"))
    from review_app.store import get_row

    for r in rows[:1_000]:
        now = get_row(con, r["id"])
        kind = "reject" if now["row_idx"] % 4 == 0 else "accept"
        try:
            decide(con, Action(now["id"], now["version"], "s-bob", "bob", kind, reason="duplicate"))
        except Exception:  # noqa: BLE001
            decide(con, Action(now["id"], now["version"], "s-bob", "bob", "reject", reason="broken"))
    return con.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]


def timed(fn, n: int = RENDERS) -> list[float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def pages_bench(db: Path) -> None:
    """Progress and Stats on the 52k store: the figures' functions alone, then each page rendered whole
    through AppTest (script run, queries, widgets; no browser)."""
    from streamlit import config as st_config
    from streamlit.testing.v1 import AppTest

    from review_app.progress import progress
    from review_app.stats_page import reviewer_table
    from review_app.store import connect

    con = connect(db)
    t = time.perf_counter()
    n = team_day(con)
    rows = con.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    print(f"team day: {n:,} decisions by 3 reviewers on a {rows:,}-row store ({time.perf_counter() - t:.1f} s)")
    print(summary("progress()", timed(lambda: progress(con))))
    print(summary("stats tables", timed(lambda: reviewer_table(con))))
    os.environ["SIEVE_REVIEW_DB"] = str(db)
    st_config.set_option("server.address", "127.0.0.1")  # the zero-setup sign-in: a name, on a loopback address
    at = AppTest.from_file(str(ROOT / "review_app" / "app.py"), default_timeout=60).run()
    at.text_input(key="signin_name").input("bench")
    next(b for b in at.button if b.label == "Sign in").click().run()
    for page in ("Progress", "Stats"):
        at.sidebar.radio(key="page").set_value(page)
        times = timed(at.run, RENDERS + 1)
        assert not at.exception and at.table, at.exception  # the page drew its reviewer table, no error
        print(summary(f"{page} page", times[1:]) + f"; first (page switch) {times[0] * 1000:.0f} ms "
              "(AppTest: the whole script run)")


def serve(db: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "review_app" / "app.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        env={**os.environ, "SIEVE_REVIEW_DB": str(db)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("streamlit did not start")


def browser_bench(db: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if not chromium:
        print("browser: skipped (needs Debian's chromium)")
        return
    proc, url = serve(db)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            title = page.get_by_text(TITLE)
            t = time.perf_counter()
            page.goto(url)
            page.get_by_label("Reviewer name").fill("bench")
            page.get_by_label("Reviewer name").press("Enter")
            title.wait_for(timeout=60_000)
            print(f"first row after sign-in: {(time.perf_counter() - t) * 1000:.0f} ms (page load included)")
            for name, go in (("key A", lambda: page.locator("body").press("a")),
                             ("click Accept", lambda: page.get_by_role("button", name="Accept").click())):
                times = []
                for _ in range(SAMPLES):
                    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')
                    before = title.inner_text()
                    t = time.perf_counter()
                    go()
                    page.wait_for_function(
                        "b => [...document.querySelectorAll('[data-testid=stText]')].some("
                        "e => /^row [\\d,]+ of /.test(e.innerText) && e.innerText !== b)", arg=before, polling="raf")
                    times.append(time.perf_counter() - t)
                print(summary(f"{name} -> next", times))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    args = [a for i, a in enumerate(sys.argv[1:]) if not a.startswith("--") and sys.argv[i] != "--rows"]
    run = Path(args[0] if args else ROOT / "runs" / "alpaca")
    only = {a for a in sys.argv[1:] if a in ("--store", "--pages", "--scale")}
    if "--scale" in only:
        from bench.review_scale import scale_bench

        rows = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else 1_000_000
        scale_bench(run, rows)
        return
    with tempfile.TemporaryDirectory() as tmp:
        from review_app.importer import import_run
        from review_app.store import connect

        if not only or "--store" in only:
            store_bench(run, Path(tmp) / "bench.sqlite")
        if not only or "--pages" in only:
            import_run(connect(Path(tmp) / "pages.sqlite"), run)
            pages_bench(Path(tmp) / "pages.sqlite")
        if not only:
            db = Path(tmp) / "review.sqlite"
            import_run(connect(db), run)
            browser_bench(db)


if __name__ == "__main__":
    main()
