"""What the review screen shows from the run's own files rather than the store: the eval prompt a
contamination row matched, and the input the run quarantined. Plain functions; they never import
streamlit. Every path they return is relative (to the inputs' common folder) or a bare file name: no
absolute path of the machine reaches the screen.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from review_app.migrations import relative_path, source_root


@dataclass(frozen=True)
class StoreRun:
    """The run a store holds: its folder (as imported) and its manifest (as the store recorded it, so
    it is known even when the folder has gone)."""

    path: Path
    manifest: dict


def store_run(con: sqlite3.Connection) -> StoreRun | None:
    """The run imported last into the store (after ``--carry-over``, the new one); None for an empty store."""
    r = con.execute("SELECT path, manifest FROM runs ORDER BY imported_at DESC LIMIT 1").fetchone()
    return None if r is None else StoreRun(Path(r[0]), json.loads(r[1]))


@dataclass(frozen=True)
class EvalMatch:
    """The eval prompt a row matched: ``prompt`` is its text, or None with ``note`` saying why it
    cannot be shown (the eval file is gone, or no longer holds that id)."""

    eval_id: str
    overlap: float | None
    files: str  # the eval files' names, for the screen
    prompt: str | None
    note: str = ""


def eval_match(run: StoreRun | None, eval_id: str, overlap: float | None) -> EvalMatch:
    """Look ``eval_id`` up in the eval files the run's manifest names (read with
    :func:`curate.contamination.load_eval_prompts`, cached while the files are unchanged). A relative
    eval path is read from the current folder, as ``sieve curate`` was given it."""
    paths = list(run.manifest.get("eval_files") or []) if run else []
    names = ", ".join(os.path.basename(p.rstrip("/")) for p in paths) or "(none recorded)"
    if not paths:
        return EvalMatch(eval_id, overlap, names, None, "the run's manifest names no eval file, so the eval "
                         "prompt cannot be shown")
    missing = [os.path.basename(p.rstrip("/")) for p in paths if not Path(p).exists()]
    if missing:
        return EvalMatch(eval_id, overlap, names, None, f"the eval file {', '.join(missing)} named in the run's "
                         "manifest cannot be found now (moved or deleted): the eval prompt cannot be shown")
    try:
        prompts = _eval_prompts(tuple(_stamp(Path(p)) for p in paths))
    except Exception as exc:  # noqa: BLE001 - an unreadable eval file is a note on screen, not a failure
        return EvalMatch(eval_id, overlap, names, None, f"the eval file cannot be read now ({exc}): the eval "
                         "prompt cannot be shown")
    prompt = prompts.get(eval_id)
    if prompt is None:
        return EvalMatch(eval_id, overlap, names, None, f"{names} no longer holds eval id {eval_id} (it changed "
                         "since the run): the eval prompt cannot be shown")
    return EvalMatch(eval_id, overlap, names, prompt)


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path), st.st_mtime_ns, st.st_size


@lru_cache(maxsize=4)
def _eval_prompts(stamps: tuple[tuple[str, int, int], ...]) -> dict[str, str]:
    # Keyed by path, mtime and size: a changed eval file is read again, an unchanged one once per process.
    from curate.contamination import load_eval_prompts

    frame = load_eval_prompts([s[0] for s in stamps])
    return dict(zip(frame["eval_id"].to_list(), frame["eval_prompt"].to_list()))


@dataclass(frozen=True)
class Quarantine:
    """The run's quarantine.jsonl: ``records`` (each with ``file`` relative to the inputs' common
    folder), ``counts`` per reason code (most frequent first), or ``note`` when it cannot be read."""

    records: list[dict]
    counts: list[tuple[str, int]]
    note: str = ""


def quarantine(run: StoreRun | None) -> Quarantine:
    """Read the run's quarantined input. A missing folder or file is a note, not an error: the store
    still works without its run folder."""
    if run is None:
        return Quarantine([], [], "no run has been imported into this store")
    path = run.path / "quarantine.jsonl"
    if not path.is_file():
        return Quarantine([], [], "the run folder has no quarantine.jsonl now (moved or deleted)")
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                records.append({"source_file": "quarantine.jsonl", "line": n, "code": "quarantine.unreadable",
                                "error": "this line of quarantine.jsonl is not JSON", "raw": line[:2000]})
    inputs = [i.get("path", "") for i in run.manifest.get("inputs", [])]
    root = source_root(inputs + [r.get("source_file", "") for r in records])
    for r in records:
        r["file"] = relative_path(str(r.get("source_file", "")), root)
    counts = Counter(r.get("code", "?") for r in records).most_common()
    return Quarantine(records, counts)


def location(record: dict) -> str:
    """``file:line:column`` as far as known, the file relative (see :func:`quarantine`)."""
    loc = record["file"]
    if record.get("line") is not None:
        loc += f":{record['line']}"
        if record.get("column") is not None:
            loc += f":{record['column']}"
    return loc
