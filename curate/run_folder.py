"""A run folder appears whole or not at all, and one run writes to it at a time.

A run writes every output into a staging folder inside the run folder, then moves the files into
place with ``manifest.json`` last; the old manifest is removed before the first move. So a folder with
a ``manifest.json`` always holds that run's complete outputs, and a kill, a full disk or a crash in
between leaves a folder without a manifest, which every reader refuses (:func:`read_manifest`). Files
a run does not write (a review store, a training output) are never touched.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from curate.errors import IncompleteRunError, OutputError

MANIFEST = "manifest.json"
LOCK = ".sieve-curate.lock"


def new_run_id() -> str:
    return uuid.uuid4().hex


def prepare_output(out: Path, inputs: list[str] | None = None) -> None:
    """Check ``out`` before any work: it must be (or become) a writable folder.

    Raises :class:`OutputError` naming the problem."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"-o {out}: is a file, not a folder; choose a folder for the run's outputs")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".sieve-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"-o {out}: cannot write there ({exc.strerror or exc})") from None


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold the folder's lock for the whole run; a second run into the same folder fails at once."""
    fh = open(out / LOCK, "a+")
    locked = False
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except BlockingIOError:
            raise OutputError(f"-o {out}: another `sieve curate` is writing to this folder right now; "
                              "wait for it to finish or choose another -o") from None
        yield
    finally:
        if locked:
            (out / LOCK).unlink(missing_ok=True)  # still held here: no other run can slip in between
        fh.close()


@contextmanager
def scratch(out: Path, prefix: str, name: str) -> Iterator[Path]:
    """A fresh folder ``prefix + name`` inside ``out`` (same filesystem, so moves are renames), removed after;
    a killed run's leftovers with the same prefix are removed first (the caller holds the folder's lock)."""
    for left in out.glob(f"{prefix}*"):
        shutil.rmtree(left, ignore_errors=True)
    folder = out / f"{prefix}{name}"
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def staging(out: Path, run_id: str):
    """The folder a run's outputs are written into before :func:`commit` moves them in place."""
    return scratch(out, ".staging-", run_id)


def commit(stage: Path, out: Path) -> None:
    """Move every file of ``stage`` into ``out``: old manifest out first, new manifest in last."""
    (out / MANIFEST).unlink(missing_ok=True)
    _fsync_dir(out)
    for f in sorted(stage.iterdir()):
        if f.name != MANIFEST:
            os.replace(f, out / f.name)
    os.replace(stage / MANIFEST, out / MANIFEST)
    _fsync_dir(out)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The manifest of a complete curate run folder.

    Raises :class:`IncompleteRunError` when the folder has no readable manifest (a killed run, or not a
    run folder). A manifest from Sieve's first release (no ``run_id``) is accepted as one unnamed run.
    """
    path = Path(run_dir) / MANIFEST
    try:
        man = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IncompleteRunError(f"{run_dir}: no {MANIFEST}: not a finished `sieve curate` run (killed or "
                                 "still running?); run `sieve curate ... -o` again") from None
    except (OSError, ValueError) as exc:
        raise IncompleteRunError(f"{path}: unreadable manifest ({exc}); run `sieve curate ... -o` again") from None
    if not isinstance(man, dict) or man.get("tool") != "sieve curate":
        raise IncompleteRunError(f"{path}: not a `sieve curate` manifest")
    return man
