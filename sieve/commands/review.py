"""``sieve review``: import a curate run into the review store and serve the app; ``export``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sieve.console import EXIT_USAGE, fail, load_config_or_fail, out

APP = Path(__file__).resolve().parents[2] / "review_app" / "app.py"


def run_review(run_dir: Path, db: Path | None, host: str, port: int, double_share: float | None, import_only: bool,
               config: Path | None = None, carry_over: bool = False) -> int:
    """Import ``run_dir`` (a finished curate run) into its store, then serve the app on ``host:port``.

    ``double_share`` 0 or None keeps the store's own share (the CLI's default cannot say "not given")."""
    from review_app.errors import ReviewError
    from review_app.importer import import_run
    from review_app.store import connect
    from schemas.review_config import load_review_config

    cfg = load_config_or_fail(load_review_config, config, double_review=double_share or None)
    if not (run_dir / "annotated.parquet").is_file():
        fail(f"{run_dir}: not a `sieve curate` output folder (no annotated.parquet)", EXIT_USAGE)
    if host not in ("127.0.0.1", "localhost", "::1") and not os.environ.get("SIEVE_REVIEW_PASSWORD"):
        fail(f"--host {host} serves beyond this machine: set SIEVE_REVIEW_PASSWORD first", EXIT_USAGE)
    db = db or run_dir / "review.sqlite"
    start = time.perf_counter()
    try:
        con = connect(db)
        res = import_run(con, run_dir, double_share or (cfg.double_review or None), carry_over=carry_over)
        con.close()
    except ReviewError as exc:
        fail(str(exc), EXIT_USAGE)
    for note in res.notes:
        out.print(f"note: {note}")
    out.print(f"imported {run_dir}: {res.added:,} new rows, {res.kept:,} already in {db} "
              f"({time.perf_counter() - start:.1f} s); double review: {res.double_review:.0%} of review rows")
    url = f"http://{host}:{port}"
    out.print(f"review app: {url}")
    if import_only:
        return 0
    env = {**os.environ, "SIEVE_REVIEW_DB": str(db.resolve())}
    if config is not None:
        env["SIEVE_REVIEW_CONFIG"] = str(config.resolve())
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.address", host,
           "--server.port", str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
           "--client.toolbarMode", "viewer", "--client.showErrorDetails", "none"]
    return subprocess.call(cmd, env=env)


def run_export(db: Path, output: Path, run_dir: Path | None = None) -> int:
    """Write the approved rows of ``db`` to ``output``; with ``run_dir``, first check the store holds
    that run (a store of an earlier curate of the folder is refused, naming ``--carry-over``)."""
    from review_app.errors import ReviewError
    from review_app.export import export_approved
    from review_app.importer import check_run
    from review_app.store import connect

    if not db.is_file():
        fail(f"{db}: no such review store")
    try:
        con = connect(db)
        if run_dir is not None:
            check_run(con, run_dir)
        n = export_approved(con, output)
    except ReviewError as exc:
        fail(str(exc), EXIT_USAGE)
    out.print(f"wrote {n:,} approved rows to {output}")
    return 0
