"""Benchmark review at Alpaca scale. A script, not a test.

1. The store: import a 52,002-row curate run, then time leasing the next row and applying actions.
2. The app in a real browser (Debian's Chromium through Playwright): time from page load to the first
   row, and from a key press (A) and from a click (Accept) to the next row on screen; median and p95.

    python bench/review_bench.py runs/alpaca            # a `sieve curate` output folder (52k rows)
    python bench/review_bench.py runs/alpaca --store    # the store part only
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
    run = Path(next((a for a in sys.argv[1:] if not a.startswith("--")), ROOT / "runs" / "alpaca"))
    with tempfile.TemporaryDirectory() as tmp:
        store_bench(run, Path(tmp) / "bench.sqlite")
        if "--store" not in sys.argv:
            from review_app.importer import import_run
            from review_app.store import connect

            db = Path(tmp) / "review.sqlite"
            import_run(connect(db), run)
            browser_bench(db)


if __name__ == "__main__":
    main()
