"""``sieve review``: import a curate run into the review store and serve the app; ``export``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sieve.console import EXIT_USAGE, fail, out

APP = Path(__file__).resolve().parents[2] / "review_app" / "app.py"


def run_review(run_dir: Path, db: Path | None, host: str, port: int, double_share: float, import_only: bool) -> int:
    from review_app.store import connect, import_run

    if not (run_dir / "annotated.parquet").is_file():
        fail(f"{run_dir}: not a `sieve curate` output folder (no annotated.parquet)", EXIT_USAGE)
    if host not in ("127.0.0.1", "localhost", "::1") and not os.environ.get("SIEVE_REVIEW_PASSWORD"):
        fail(f"--host {host} serves beyond this machine: set SIEVE_REVIEW_PASSWORD first", EXIT_USAGE)
    db = db or run_dir / "review.sqlite"
    start = time.perf_counter()
    con = connect(db)
    counts = import_run(con, run_dir, double_share)
    con.close()
    out.print(f"imported {run_dir}: {counts['added']:,} new rows, {counts['kept']:,} already in {db} "
              f"({time.perf_counter() - start:.1f} s)")
    url = f"http://{host}:{port}"
    out.print(f"review app: {url}")
    if import_only:
        return 0
    env = {**os.environ, "SIEVE_REVIEW_DB": str(db.resolve())}
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.address", host,
           "--server.port", str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
           "--client.toolbarMode", "viewer"]
    return subprocess.call(cmd, env=env)


def run_export(db: Path, output: Path) -> int:
    from review_app.export import export_approved
    from review_app.store import connect

    if not db.is_file():
        fail(f"{db}: no such review store")
    n = export_approved(connect(db), output)
    out.print(f"wrote {n:,} approved rows to {output}")
    return 0
