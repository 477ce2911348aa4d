"""``sieve review``: import a curate run into the review store and serve the app; ``export``.

:data:`review_cli` is a typer sub-app (``app.add_typer(review_cli, name="review")``): ``sieve review
RUN_DIR`` opens a run (the ``open`` command is implied), ``sieve review export DB -o FILE`` exports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from sieve.console import EXIT_USAGE, fail, load_config_or_fail, out

APP = Path(__file__).resolve().parents[2] / "review_app" / "app.py"


def run_review(run_dir: Path, db: Path | None, host: str, port: int, double_share: float | None, import_only: bool,
               config: Path | None = None, carry_over: bool = False, guidelines: Path | None = None) -> int:
    """Import ``run_dir`` (a finished curate run) into its store, then serve the app on ``host:port``,
    with ``guidelines`` (a markdown file) one click away; a missing or unreadable file is a usage error.

    ``double_share`` 0 or None keeps the store's own share (the CLI's default cannot say "not given")."""
    from review_app.accounts import has_accounts
    from review_app.errors import ReviewError
    from review_app.help import read_guidelines
    from review_app.importer import import_run
    from schemas.review_config import load_review_config

    cfg = load_config_or_fail(load_review_config, config, double_review=double_share or None)
    if guidelines is not None:
        try:
            read_guidelines(guidelines)
        except ReviewError as exc:
            fail(f"--guidelines {guidelines}: {str(exc).split(': ', 1)[1]}", EXIT_USAGE)
    if not (run_dir / "annotated.parquet").is_file():
        fail(f"{run_dir}: not a `sieve curate` output folder (no annotated.parquet)", EXIT_USAGE)
    db = db or run_dir / "review.sqlite"
    if db.is_dir() or not db.parent.is_dir():
        why = "is a folder" if db.is_dir() else f"its folder {db.parent} does not exist"
        fail(f"--db {db}: {why}; give the path of the review store's file", EXIT_USAGE)
    start = time.perf_counter()
    try:
        con = open_store(db)
        if host not in ("127.0.0.1", "localhost", "::1") and not os.environ.get("SIEVE_REVIEW_PASSWORD") \
                and not has_accounts(con):
            fail(f"--host {host} serves beyond this machine: add reviewer accounts (sieve review add-reviewer) "
                 "or set SIEVE_REVIEW_PASSWORD first", EXIT_USAGE)
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
    if guidelines is not None:
        env["SIEVE_REVIEW_GUIDELINES"] = str(guidelines.resolve())
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.address", host,
           "--server.port", str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
           "--client.toolbarMode", "viewer", "--client.showErrorDetails", "none"]
    return subprocess.call(cmd, env=env)


def run_export(db: Path, output: Path, run_dir: Path | None = None) -> int:
    """Write the approved rows of ``db`` to ``output``; with ``run_dir``, first check the store holds
    that run (a store of an earlier curate of the folder is refused, naming ``--carry-over``). A store
    that holds no run yet is refused like a missing one (exit 1), never exported as 0 rows."""
    from curate.errors import OutputError
    from review_app.errors import NoRunError, ReviewError
    from review_app.export import export_approved
    from review_app.importer import check_run

    if not db.is_file():
        fail(f"{db}: no such review store")
    with db.open("rb") as fh:  # opening any other file as a store would write a store's tables into it
        if fh.read(16) != b"SQLite format 3\x00":
            fail(f"{db}: not a readable review store (not an SQLite file); give the review.sqlite of a run")
    try:
        con = open_store(db)
        if run_dir is not None:
            check_run(con, run_dir)
        n = export_approved(con, output)
    except NoRunError as exc:
        fail(str(exc))
    except (ReviewError, OutputError) as exc:
        fail(str(exc), EXIT_USAGE)
    out.print(f"wrote {n:,} approved rows to {output}")
    return 0


def open_store(db: Path):
    """:func:`review_app.store.connect`, with a file that is not a readable review store (not SQLite,
    corrupt, cannot be opened) one line naming it and exit 1, as the README's exit codes say."""
    import sqlite3

    from review_app.store import connect

    try:
        return connect(db)
    except sqlite3.DatabaseError as exc:
        fail(f"{db}: not a readable review store ({exc})")


def store_of(target: Path) -> Path:
    """The review store a command names: a curate run folder means its ``review.sqlite`` (made when
    missing), anything else is the store's own path (made when missing, in a folder that exists)."""
    if target.is_dir():
        if not (target / "annotated.parquet").is_file():
            fail(f"{target}: neither a review store nor a `sieve curate` output folder", EXIT_USAGE)
        return target / "review.sqlite"
    if not target.parent.is_dir():
        fail(f"{target}: no such review store (its folder {target.parent} does not exist)", EXIT_USAGE)
    return target


def read_password(from_stdin: bool) -> str:
    """One line of stdin (its newline dropped), or a hidden prompt asked twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def run_accounts(op: str, name: str, target: Path, password_stdin: bool = False) -> int:
    """``op`` is add, remove or reset: change one reviewer account of the store ``target`` names."""
    from review_app import accounts
    from review_app.errors import ReviewError

    db = store_of(target)
    try:
        con = open_store(db)
        if op == "remove":
            done = accounts.remove_reviewer(con, name)
        else:
            change = accounts.add_reviewer if op == "add" else accounts.reset_password
            done = change(con, name, read_password(password_stdin))
        left = len(accounts.reviewer_names(con))
    except ReviewError as exc:
        fail(str(exc), EXIT_USAGE)
    what = {"add": "added reviewer", "remove": "removed reviewer", "reset": "new password for"}[op]
    note = ("the app asks for name and password" if left else
            "no account left: the app is back to any name (and the shared password when set)")
    out.print(f"{what} {done} in {db} ({left:,} account{'s' if left != 1 else ''}; {note})")
    return 0


class ReviewGroup(TyperGroup):
    """``sieve review RUN_DIR`` means ``sieve review open RUN_DIR``. A first word that names a subcommand
    is one, except a curate run folder with no further argument after it (options aside): so a run
    folder called ``export`` still opens, and ``export DB -o FILE`` still exports."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        first = args[0] if args else None
        alone = not any(not a.startswith("-") for a in args[1:2])
        if first and not first.startswith("-") and (
                first not in self.commands or ((Path(first) / "manifest.json").is_file() and alone)):
            args = ["open", *args]
        return super().parse_args(ctx, args)


review_cli = typer.Typer(
    cls=ReviewGroup, no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]},
    help="Review rows in the browser (accept, reject, fix), or export the approved set.\n\n"
    "Examples:\n\n"
    "  sieve review runs/alpaca                 # import runs/alpaca, serve on http://127.0.0.1:8501\n\n"
    "  sieve review runs/alpaca --carry-over    # the folder was curated again: keep the decisions\n\n"
    "  sieve review runs/alpaca --guidelines docs/guidelines.md   # the team's rules, one click away\n\n"
    "  sieve review export runs/alpaca/review.sqlite -o runs/alpaca/approved.jsonl\n\n"
    "  sieve review add-reviewer ada runs/alpaca   # accounts: the app then asks for name and password")


@review_cli.command("open")
def open_command(
    run_dir: Annotated[Path, typer.Argument(help="A `sieve curate` output folder.")],
    db: Annotated[Optional[Path], typer.Option(help="Review store (default RUN_DIR/review.sqlite).")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on; keep 127.0.0.1 unless you set a password.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the app.")] = 8501,
    double_review: Annotated[Optional[float], typer.Option(
        help="Share of review rows that need two reviewers (0-1); fixed when the store is made.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Review config (TOML).")] = None,
    carry_over: Annotated[bool, typer.Option(
        "--carry-over", help="The folder holds a new curate run: carry the store's decisions over to it by the "
        "content of their messages.")] = False,
    import_only: Annotated[bool, typer.Option("--import-only", help="Import the run, print the URL, do not serve.")] = False,
    guidelines: Annotated[Optional[Path], typer.Option(
        help="The project's review guidelines (markdown), shown one click (or the g key) away.")] = None,
) -> None:
    """Import RUN_DIR into its review store and serve the review app.

    Example: sieve review open runs/alpaca --port 8502 --guidelines docs/guidelines.md
    """
    raise typer.Exit(run_review(run_dir, db, host, port, double_review, import_only, config, carry_over, guidelines))


@review_cli.command("export")
def export_command(
    db: Annotated[Path, typer.Argument(help="A review store (RUN_DIR/review.sqlite).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The approved JSONL to write.")],
    run: Annotated[Optional[Path], typer.Option(help="Refuse unless the store holds this curate run.")] = None,
) -> None:
    """Write the approved rows (kept, accepted, fixed; rejected and disputed left out) as JSONL.

    Example: sieve review export runs/alpaca/review.sqlite -o runs/alpaca/approved.jsonl
    """
    raise typer.Exit(run_export(db, output, run))


STORE_ARG = typer.Argument(help="A review store, or a `sieve curate` output folder (its review.sqlite).")
STDIN_OPT = typer.Option("--password-stdin", help="Read the password from the first line of stdin (for scripts).")


@review_cli.command("add-reviewer")
def add_reviewer_command(
    name: Annotated[str, typer.Argument(help="The name the reviewer signs in with (1-64 characters).")],
    store: Annotated[Path, STORE_ARG],
    password_stdin: Annotated[bool, STDIN_OPT] = False,
) -> None:
    """Create a reviewer account; the app then asks for name and password.

    Asks for the password twice (or reads it with --password-stdin); only its argon2id hash is stored.
    Each decision names the account it was signed in with.

    Example: sieve review add-reviewer ada runs/alpaca
    """
    raise typer.Exit(run_accounts("add", name, store, password_stdin))


@review_cli.command("remove-reviewer")
def remove_reviewer_command(
    name: Annotated[str, typer.Argument(help="The account to remove; its decisions stay.")],
    store: Annotated[Path, STORE_ARG],
) -> None:
    """Remove a reviewer account; a session signed in with it is signed out at its next click.

    Example: sieve review remove-reviewer ada runs/alpaca
    """
    raise typer.Exit(run_accounts("remove", name, store))


@review_cli.command("reset-password")
def reset_password_command(
    name: Annotated[str, typer.Argument(help="The account whose password to set.")],
    store: Annotated[Path, STORE_ARG],
    password_stdin: Annotated[bool, STDIN_OPT] = False,
) -> None:
    """Set a reviewer's new password; sessions signed in with the old one are signed out.

    Example: printf '%s\\n' "$NEW" | sieve review reset-password ada runs/alpaca --password-stdin
    """
    raise typer.Exit(run_accounts("reset", name, store, password_stdin))
