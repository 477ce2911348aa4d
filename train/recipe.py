"""``sieve train``: one readable recipe. Setup (output folder, model, data, masking check), train, save.

An output folder is ``sieve train``'s own: a re-run of the same command resumes its checkpoint or, once it
has finished, leaves it as it is; another data set, model or setting is refused (``overwrite`` starts
afresh); a ``sieve curate`` run folder is never written into.

Under ``torchrun`` every process runs this recipe. All of them read the data and train; rank 0 alone
prints and writes the output folder (``train.distributed``).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from curate.atomic import atomic_write_text
from schemas.train_config import TrainConfig
from train import checkpoint, distributed
from train.data import EncodedSet, encode_all, is_curate_run, load_conversations, preflight, unreadable_note
from train.errors import CheckpointMismatchError, NoTrainingRowsError, TrainUsageError
from train.heldout import content_key, split_eval, without
from train.loop import Hook, TrainResult, evaluate, pick_device, train_lora, use_bf16, write_metrics_line
from train.model import load_model, load_tokenizer, resolve_model_dir

# Everything sieve train writes into its output folder, and all that `overwrite` removes.
TRAIN_OUTPUTS = ("adapter", "merged", "checkpoints", "metrics.jsonl", "train_config.json", "manifest.json")
# What sieve train --curve writes there (train.curve), and all that its `overwrite` removes.
CURVE_FILES = ("curve_plan.json", "points.jsonl", "curve.json", "curve.png", "curve.md")


@dataclass
class Prepared:
    model_dir: str
    tokenizer: object
    train: EncodedSet
    evals: EncodedSet | None
    data_info: dict
    trained_share: float
    eval_keys: set[str]  # content keys of every held-out row: no arm may train on them
    notes: list[str] = field(default_factory=list)  # input that could not be read (train.data.unreadable_note)


def prepare(data: str | Path, cfg: TrainConfig, eval_file: str | Path | None, pool: int | None = None) -> Prepared:
    """Resolve the model, load rows, hold out the eval set, render and mask, and run the masking check.

    Eval rows (the ``eval_file``, else a seeded split of ``data``) are removed from the training rows by
    content key, so a row that is in both is evaluated, never trained on. ``pool``: encode only a seeded
    random sample of this many training rows (learning curves need no more than their largest size, and
    rendering every row of a large set costs minutes). Raises :class:`~train.errors.TrainError`s."""
    model_dir = resolve_model_dir(cfg)  # first: a wrong --model fails before any data is read
    rows, info = load_conversations(data)
    notes = [unreadable_note(info, str(data))]
    if eval_file:
        eval_rows, eval_info = load_conversations(eval_file)
        notes.append(unreadable_note(eval_info, f"--eval {eval_file}"))
        if not eval_rows:
            raise TrainUsageError(f"--eval {eval_file}: no eval rows in it{'; ' + notes[-1] if notes[-1] else ''}")
        info["eval"] = str(eval_file)
        info["eval_unreadable"] = eval_info.get("unreadable", 0)
    else:
        rows, eval_rows = split_eval(rows, min(cfg.eval_size, int(len(rows) * cfg.eval_max_share)), cfg.seed)
        info["eval"] = f"{len(eval_rows)} rows held out by content hash"
    eval_keys = {content_key(r["messages"]) for r in eval_rows}
    rows, info["eval_overlap_removed"] = without(rows, eval_keys)
    if not rows:
        raise NoTrainingRowsError(f"{data}: no training rows (after holding out {len(eval_rows)} eval rows)"
                                  f"{'; ' + notes[0] if notes[0] else ''}")
    if pool is not None and len(rows) > pool:
        rows = random.Random(cfg.seed).sample(rows, pool)
        info["pool"] = pool
    tok = load_tokenizer(model_dir)
    share = preflight(tok, rows, cfg.preflight_rows)
    train = encode_all(tok, rows, cfg.max_length, cfg.truncate)
    evals = encode_all(tok, eval_rows[: cfg.max_eval_rows], cfg.max_length, True) if eval_rows else None
    if not train.examples:
        raise NoTrainingRowsError(f"{data}: every row was dropped ({train.reasons}); raise max_length or set "
                                  "truncate")
    return Prepared(model_dir, tok, train, evals, info, share, eval_keys, [n for n in notes if n])


def check_output(out: Path, data: str | Path, *, ranks_coordinated: bool = False, kind: str = "train") -> None:
    """Refuse an output folder that is a file, the DATA folder (or inside it), a folder another tool
    wrote (a ``sieve curate`` run: training would overwrite its manifest), a folder holding files of the
    names ``kind`` writes ("train" or "curve") that sieve train did not write, or the other kind's folder.
    Under torchrun, refuse it too unless the caller coordinates its ranks (``ranks_coordinated``, as
    :func:`run_train` does): each process would otherwise write the same files. Raises
    :class:`~train.errors.TrainUsageError`."""
    env = distributed.from_env()
    if env and env[1] > 1 and not ranks_coordinated:
        raise TrainUsageError(f"-o {out}: this command runs in one process, and the {env[1]} torchrun processes "
                              "would each write it; run it without torchrun (only a plain sieve train trains "
                              "on several processes)")
    if out.exists() and not out.is_dir():
        raise TrainUsageError(f"-o {out}: a file is there; -o must be a folder")
    tool = _manifest_tool(out) if out.is_dir() else None
    if out.is_dir() and is_curate_run(out) and tool != "sieve train":
        what = ("a sieve curate run folder" if tool is None or str(tool).startswith("sieve curate")
                else f"a folder whose manifest.json another tool wrote ({tool!r})")
        raise TrainUsageError(f"-o {out}: {what}; training would overwrite its manifest.json. "
                              f"Choose another -o (e.g. {out.name}-lora)")
    data = Path(data)
    if data.is_dir() and (out.resolve() == data.resolve() or data.resolve() in out.resolve().parents):
        raise TrainUsageError(f"-o {out}: it is the DATA folder {data} or inside it; choose another -o "
                              f"(e.g. {data.name}-lora beside it)")
    if out.is_dir():
        _check_owner(out, kind)


def _check_owner(out: Path, kind: str) -> None:
    """``out`` holds nothing of ``kind``'s names, or they are sieve train's own (``--overwrite`` removes
    them, so it must never meet anyone else's); and it is not the other kind's folder."""
    owner = output_owner(out)
    other = {"train": "curve", "curve": "train"}[kind]
    if owner == other:
        raise TrainUsageError(f"-o {out}: holds a sieve train {'--curve ' if other == 'curve' else ''}run; "
                              f"a {'learning curve' if kind == 'curve' else 'training run'} needs a folder of its "
                              "own: choose another -o")
    clash = [n for n in (TRAIN_OUTPUTS if kind == "train" else CURVE_FILES) if (out / n).exists()]
    if clash and owner != kind:
        raise TrainUsageError(f"-o {out}: holds {', '.join(clash)}, which sieve train did not write; it would "
                              "replace them. Choose a new or empty folder (nothing was changed)")


def output_owner(out: Path) -> str | None:
    """"train" when ``out`` holds a sieve train run (its manifest, or the settings a run killed before its
    manifest wrote), "curve" for a learning curve (its plan), else None."""
    if _manifest_tool(out) == "sieve train":
        return "train"
    if (_json_object(out / "curve_plan.json") or {}).get("tool") == "sieve train --curve":
        return "curve"
    # the keys every release's settings file has had (the [curve] section came later)
    return "train" if {"model", "lora", "max_length"} <= set(_json_object(out / "train_config.json") or {}) else None


def _manifest_tool(folder: Path) -> str | None:
    return (_json_object(folder / "manifest.json") or {}).get("tool")


def _json_object(path: Path) -> dict | None:
    """The JSON object in ``path``; None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def make_output(out: Path) -> None:
    """Create ``out`` and check it is writable, before any work. Raises :class:`TrainUsageError`."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".sieve-write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise TrainUsageError(f"-o {out}: cannot write there ({exc.strerror or exc})") from None
def lora_model(model_dir: str, cfg: TrainConfig, device: str):
    """The base model with a fresh LoRA adapter drawn from ``cfg.seed``: (model, trainable, total params)."""
    from peft import get_peft_model

    from train.loop import init_lora

    model = get_peft_model(load_model(model_dir, cfg, device), cfg.lora.to_peft())
    init_lora(model, cfg.seed)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return model, trainable, total


def run_train(data: str | Path, out: Path, cfg: TrainConfig, eval_file: str | Path | None = None,
              hook: Hook | None = None, say=print, overwrite: bool = False) -> dict:
    """Train one adapter on ``data`` into ``out``; returns the manifest written there (or, when ``out``
    already holds this very run finished, the manifest it has, unchanged). Under torchrun, every rank
    calls this and gets the manifest; only rank 0 calls ``say`` and ``hook`` and writes files.

    Raises :class:`~train.errors.TrainUsageError` for an unusable ``out`` or model,
    :class:`~train.errors.CheckpointMismatchError` when ``out`` holds a checkpoint or a finished run made
    with other data, model or settings (``overwrite=True`` starts afresh instead)."""
    check_output(out, data, ranks_coordinated=True)
    with distributed.session() as dist:  # one process: Dist(); torchrun: this rank, group closed on exit
        if not dist.main:
            _quiet_libraries()
        return _run_train(data, out, cfg, eval_file, hook, say if dist.main else _quiet, overwrite, dist)


def _quiet(*_args) -> None:
    """``say`` on ranks other than 0: rank 0 already says it."""


def _quiet_libraries() -> None:
    """On ranks other than 0: no second copy of transformers' loading bars, log lines and warnings (rank
    0 shows them once; an error still ends the rank, and the CLI prints it)."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.simplefilter("ignore")


def _run_train(data, out: Path, cfg: TrainConfig, eval_file, hook: Hook | None, say, overwrite: bool,
               dist: distributed.Dist) -> dict:
    dist.on_main(lambda: make_output(out))
    # With max_steps, a seeded random sample of the rows those steps can use is all that gets rendered.
    pool = cfg.max_steps * cfg.batch_size * cfg.grad_accum * dist.world if cfg.max_steps else None
    prep = prepare(data, cfg, eval_file, pool=pool)
    evals = prep.evals.examples if prep.evals else None
    fp = checkpoint.fingerprint(prep.model_dir, prep.train.examples, evals, cfg, world_size=dist.world)
    if overwrite:  # only now that the data and model are known to be usable; every rank waits for it
        dist.on_main(lambda: _remove_outputs(out))
    finished = _finished(out, fp)
    resuming = finished is None and checkpoint.check(out / "checkpoints", fp) is not None  # before weights load
    _same_on_every_rank(dist, {"data": fp["data"], "eval rows": fp["eval"], "model": fp["model"],
                               "finished run in -o": finished is not None, "checkpoint in -o": resuming})
    for note in prep.notes:  # a re-run of a finished run says them too: its exit code (3) does
        say(f"warning: {note}")
    if finished is not None:
        say(f"{out} already holds this run, finished: nothing to do (pass --overwrite to train it again)")
        return finished
    device = pick_device()
    say(f"data: {len(prep.train.examples):,} training rows ({prep.train.dropped_too_long} dropped as longer than "
        f"{cfg.max_length} tokens, {prep.train.truncated} truncated, {prep.train.dropped_unusable} unusable, "
        f"{prep.data_info['eval_overlap_removed']} left out as eval rows); "
        f"eval: {len(evals) if evals else 0} rows")
    say(f"masking check passed: {prep.trained_share:.1%} of tokens carry loss (assistant turns only)")
    model, trainable, total = lora_model(prep.model_dir, cfg, device)
    say(f"LoRA: {trainable:,} trainable parameters of {total:,} ({trainable / total:.2%}); device {device}"
        f"{f' x {dist.world} processes ({dist.backend})' if dist.world > 1 else ''}, "
        f"{'bf16 autocast' if use_bf16(cfg, device) else 'fp32'}")
    metrics = out / "metrics.jsonl"
    if dist.main:  # the other ranks never read these two
        # whole or not at all: a killed run's settings are what mark the folder as sieve train's (output_owner)
        atomic_write_text(out / "train_config.json", cfg.model_dump_json(indent=2))
        if not resuming:
            metrics.unlink(missing_ok=True)  # lines of a run killed before its first checkpoint

    def record(event: str, payload: dict) -> None:  # called on rank 0 only
        write_metrics_line(metrics, {"event": event, "time": time.time(), **payload})
        if hook:
            hook(event, payload)

    pad = prep.tokenizer.pad_token_id
    base_loss = None
    if evals and not resuming:
        with model.disable_adapter():
            base_loss = evaluate(model, evals, pad, device, use_bf16(cfg, device), cfg.batch_size, dist)
        if dist.main:
            record("eval", {"step": 0, "eval_loss": base_loss, "perplexity": math.exp(min(base_loss, 50))})
    result = train_lora(model, pad, prep.train.examples, evals, cfg, device, out_dir=out, hook=record,
                        fingerprint=fp, base_eval_loss=base_loss, dist=dist)
    manifest = _manifest(prep, cfg, result, trainable, device, fp, dist)
    # rank 0 writes; the others wait, so that a failed write stops every rank with it
    dist.on_main(lambda: _save(model, prep.tokenizer, cfg, out, manifest))
    return manifest


def _same_on_every_rank(dist: distributed.Dist, seen: dict) -> None:
    """Raise :class:`TrainUsageError` on every rank when the ranks read different data, model or output
    folder state. On several machines, rank 0's folder need not be the one the others see; a rank that
    does not resume while rank 0 does would take other steps and leave the rest waiting."""
    views = dist.gather(seen)
    differ = [k for k in seen if len({json.dumps(v[k]) for v in views}) > 1]
    if differ:
        raise TrainUsageError(f"the {dist.world} processes do not see the same {', '.join(differ)}: on several "
                              "machines, DATA, the model and -o must be on a filesystem all of them share")


def _remove_outputs(out: Path) -> None:
    for target in (out / name for name in TRAIN_OUTPUTS):
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)


def _save(model, tokenizer, cfg: TrainConfig, out: Path, manifest: dict) -> None:
    model.save_pretrained(out / "adapter")
    tokenizer.save_pretrained(out / "adapter")
    if cfg.merge:
        merged = model.merge_and_unload()
        merged.save_pretrained(out / "merged")
        tokenizer.save_pretrained(out / "merged")
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, out / "manifest.json")  # written last and whole: its presence means the run finished


def _finished(out: Path, fp: dict) -> dict | None:
    """The manifest of a finished run of this fingerprint in ``out``; ``None`` when there is none. Raises
    :class:`CheckpointMismatchError` when ``out`` holds a finished run made with something else."""
    path = out / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    diffs = checkpoint.differences(manifest.get("fingerprint") if isinstance(manifest, dict) else None, fp)
    if diffs:
        raise CheckpointMismatchError(
            f"{out}: holds a finished sieve train run made with other settings or data ({'; '.join(diffs)}). "
            "Pass --overwrite to train afresh in this folder, or choose another -o")
    return manifest


def _manifest(prep: Prepared, cfg: TrainConfig, result: TrainResult, trainable: int, device: str, fp: dict,
              dist: distributed.Dist) -> dict:
    versions = {}
    for name in ("sieve", "torch", "transformers", "peft"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "tool": "sieve train", "model": prep.model_dir, "device": device, "data": prep.data_info,
        "distributed": {"world_size": dist.world, "backend": dist.backend},
        "rows": {"train": len(prep.train.examples), "dropped_too_long": prep.train.dropped_too_long,
                 "truncated": prep.train.truncated, "unusable": prep.train.dropped_unusable,
                 "eval": len(prep.evals.examples) if prep.evals else 0},
        "trained_token_share": prep.trained_share, "trainable_parameters": trainable,
        "result": {**asdict(result), "tokens_per_s": result.tokens_per_s},
        "config": cfg.model_dump(mode="json"), "versions": versions, "fingerprint": fp,
    }
