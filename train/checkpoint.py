"""Checkpoints a re-run resumes from, and the fingerprint that decides whether it may.

A checkpoint is a folder ``step-NNNNNNN`` holding ``state.pt`` (tensors only: adapter, optimizer, RNG,
best adapter so far; read with ``torch.load(weights_only=True)``, which runs no pickled code) and
``state.json`` (everything else: step, losses, scheduler, Python RNG and the fingerprint). It is written
as a ``.tmp-`` folder and renamed, so a kill mid-save leaves nothing a resume would read.

The fingerprint names what makes a run: the model, the encoded training and eval rows (which covers the
data, the tokenizer, the chat template and ``max_length``), and every setting that changes training. A
checkpoint or a finished run with another fingerprint is never resumed into.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from schemas.train_config import TrainConfig
from train.errors import CheckpointMismatchError

# Settings that do not change what is trained: where the GGUF cache lives, whether a merged copy is
# written afterwards, how often checkpoints are saved, how many rows the masking check renders, and the
# learning-curve fields (unused by one run). ``model`` is left out because the "model" part fingerprints
# the weights themselves.
NOT_FINGERPRINTED = ("model", "cache_dir", "merge", "save_every", "preflight_rows", "curve")
IMPLIED = {"world_size": 1}  # a setting a fingerprint leaves out when it has this value
KEEP = 2  # checkpoints kept: the newest, and one before it in case the newest is damaged on disk


def fingerprint(model_dir: str | None, train: list, evals: list | None, cfg: TrainConfig,
                world_size: int = 1) -> dict:
    """What a run is made of, as short hashes plus the settings themselves (so a mismatch can be named).

    ``world_size``: the processes training together. Each step's batch holds that many times
    ``batch_size x grad_accum`` rows, so more than one is a setting like any other. One adds nothing, so
    the fingerprints of one-process runs stay what they were."""
    settings = {k: v for k, v in cfg.model_dump(mode="json").items() if k not in NOT_FINGERPRINTED}
    if world_size > 1:
        settings["world_size"] = world_size
    return {"model": _model_hash(model_dir) if model_dir else "unknown", "data": _examples_hash(train),
            "eval": _examples_hash(evals or []), "settings": settings}


def _examples_hash(examples: list) -> str:
    digest = hashlib.sha256()
    for e in examples:
        digest.update(json.dumps([e.input_ids, e.labels]).encode())
    return digest.hexdigest()[:16]


def _model_hash(model_dir: str) -> str:
    """A local model: its config and the names and sizes of its files (hashing gigabytes of weights on
    every run would cost more than it saves). A hub id: the id."""
    path = Path(model_dir)
    if not path.is_dir():
        return f"hub:{model_dir}"
    digest = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if p.is_file()):
        digest.update(f"{f.name}:{f.stat().st_size}\n".encode())
        if f.suffix == ".json" and f.stat().st_size < 1_000_000:
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


model_hash = _model_hash  # public name: the model signals' score cache keys on it too


def differences(saved: dict | None, now: dict) -> list[str]:
    """What differs between two fingerprints, in words ("data", "lr 0.0002 -> 0.001", ...)."""
    if not saved:
        return ["an earlier Sieve made it, without a fingerprint"]
    out = [part for part in ("model", "data", "eval") if saved.get(part) != now[part]]
    old, new = saved.get("settings", {}), now["settings"]
    out += [f"{k} {old.get(k, IMPLIED.get(k))!r} -> {new.get(k, IMPLIED.get(k))!r}"
            for k in sorted(set(old) | set(new)) if old.get(k, IMPLIED.get(k)) != new.get(k, IMPLIED.get(k))]
    return [{"data": "training data", "eval": "eval rows"}.get(d, d) for d in out]


def save(root: Path, step: int, tensors: dict, meta: dict) -> None:
    """Write checkpoint ``step`` whole, then drop all but the newest :data:`KEEP`."""
    import torch

    final, tmp = root / f"step-{step:07d}", root / f".tmp-step-{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save(tensors, tmp / "state.pt")
    (tmp / "state.json").write_text(json.dumps(meta))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in sorted(root.glob("step-*"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)


def latest(root: Path) -> Path | None:
    """The newest complete checkpoint folder under ``root``, if any."""
    done = sorted(p for p in root.glob("step-*") if (p / "state.pt").is_file()) if root.is_dir() else []
    return done[-1] if done else None


def check(root: Path, now: dict) -> dict | None:
    """The newest checkpoint's ``state.json``, after checking it was made by this run. Raises
    :class:`CheckpointMismatchError` when it was not (or cannot be read); ``None`` when there is none."""
    folder = latest(root)
    if folder is None:
        return None
    try:
        meta = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError):
        meta = None
    diffs = differences(meta.get("fingerprint") if isinstance(meta, dict) else None, now)
    if diffs:
        raise CheckpointMismatchError(
            f"{root.parent}: its checkpoint ({folder.name}) was made with other settings or data "
            f"({'; '.join(diffs)}); resuming would mix two runs. Pass --overwrite to start afresh in "
            "this folder, or choose another -o")
    return meta


def load(root: Path, now: dict) -> tuple[dict, dict] | None:
    """(tensors, meta) of the newest checkpoint, checked against fingerprint ``now``; ``None`` if none."""
    import torch

    meta = check(root, now)
    if meta is None:
        return None
    return torch.load(latest(root) / "state.pt", weights_only=True), meta
