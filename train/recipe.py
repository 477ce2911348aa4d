"""``sieve train``: one readable recipe. Setup (data, model, masking check), train, save."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from schemas.train_config import TrainConfig
from train.data import EncodedSet, encode_all, load_conversations, preflight, split_eval
from train.loop import Hook, TrainResult, evaluate, pick_device, train_lora, use_bf16, write_metrics_line
from train.model import load_model, load_tokenizer, resolve_model_dir


@dataclass
class Prepared:
    model_dir: str
    tokenizer: object
    train: EncodedSet
    evals: EncodedSet | None
    data_info: dict
    trained_share: float


def prepare(data: str | Path, cfg: TrainConfig, eval_file: str | Path | None, pool: int | None = None) -> Prepared:
    """Load rows, hold out the eval set, render and mask, and run the masking pre-flight check.

    ``pool``: encode only a seeded random sample of this many training rows (learning curves need no more
    than their largest size, and rendering every row of a large set costs minutes)."""
    rows, info = load_conversations(data)
    if eval_file:
        eval_rows, _ = load_conversations(eval_file)
        info["eval"] = str(eval_file)
    else:
        rows, eval_rows = split_eval(rows, min(cfg.eval_size, len(rows) // 5), cfg.seed)
        info["eval"] = f"{len(eval_rows)} rows held out by hashed id"
    if not rows:
        raise ValueError(f"{data}: no training rows")
    if pool is not None and len(rows) > pool:
        rows = random.Random(cfg.seed).sample(rows, pool)
        info["pool"] = pool
    model_dir = resolve_model_dir(cfg)
    tok = load_tokenizer(model_dir)
    share = preflight(tok, rows)
    train = encode_all(tok, rows, cfg.max_length, cfg.truncate)
    evals = encode_all(tok, eval_rows[: cfg.max_eval_rows], cfg.max_length, True) if eval_rows else None
    if not train.examples:
        raise ValueError(f"{data}: every row was dropped ({train.reasons}); raise max_length or set truncate")
    return Prepared(model_dir, tok, train, evals, info, share)


def lora_model(model_dir: str, cfg: TrainConfig, device: str):
    from peft import get_peft_model

    model = get_peft_model(load_model(model_dir, cfg, device), cfg.lora.to_peft())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return model, trainable, total


def run_train(data: str | Path, out: Path, cfg: TrainConfig, eval_file: str | Path | None = None,
              hook: Hook | None = None, say=print) -> dict:
    """Train one adapter on ``data`` into ``out``; returns the manifest written there."""
    out.mkdir(parents=True, exist_ok=True)
    # With max_steps, a seeded random sample of the rows those steps can use is all that gets rendered.
    pool = cfg.max_steps * cfg.batch_size * cfg.grad_accum if cfg.max_steps else None
    prep = prepare(data, cfg, eval_file, pool=pool)
    device = pick_device()
    say(f"data: {len(prep.train.examples):,} training rows ({prep.train.dropped_too_long} dropped as longer than "
        f"{cfg.max_length} tokens, {prep.train.truncated} truncated, {prep.train.dropped_unusable} unusable); "
        f"eval: {len(prep.evals.examples) if prep.evals else 0} rows")
    say(f"masking check passed: {prep.trained_share:.1%} of tokens carry loss (assistant turns only)")
    model, trainable, total = lora_model(prep.model_dir, cfg, device)
    say(f"LoRA: {trainable:,} trainable parameters of {total:,} ({trainable / total:.2%}); device {device}, "
        f"{'bf16 autocast' if use_bf16(cfg, device) else 'fp32'}")
    (out / "train_config.json").write_text(cfg.model_dump_json(indent=2))
    metrics = out / "metrics.jsonl"

    def record(event: str, payload: dict) -> None:
        write_metrics_line(metrics, {"event": event, "time": time.time(), **payload})
        if hook:
            hook(event, payload)

    pad = prep.tokenizer.pad_token_id
    evals = prep.evals.examples if prep.evals else None
    base_loss = None
    if evals and not (out / "checkpoints").is_dir():
        with model.disable_adapter():
            base_loss = evaluate(model, evals, pad, device, use_bf16(cfg, device), cfg.batch_size)
        record("eval", {"step": 0, "eval_loss": base_loss, "perplexity": math.exp(base_loss)})
    result = train_lora(model, pad, prep.train.examples, evals, cfg, device, out_dir=out, hook=record)
    model.save_pretrained(out / "adapter")
    prep.tokenizer.save_pretrained(out / "adapter")
    if cfg.merge:
        merged = model.merge_and_unload()
        merged.save_pretrained(out / "merged")
        prep.tokenizer.save_pretrained(out / "merged")
    manifest = _manifest(prep, cfg, result, base_loss, trainable, device)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _manifest(prep: Prepared, cfg: TrainConfig, result: TrainResult, base_loss, trainable: int, device: str) -> dict:
    versions = {}
    for name in ("sieve", "torch", "transformers", "peft"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "tool": "sieve train", "model": prep.model_dir, "device": device, "data": prep.data_info,
        "rows": {"train": len(prep.train.examples), "dropped_too_long": prep.train.dropped_too_long,
                 "truncated": prep.train.truncated, "unusable": prep.train.dropped_unusable,
                 "eval": len(prep.evals.examples) if prep.evals else 0},
        "trained_token_share": prep.trained_share, "trainable_parameters": trainable,
        "result": {**asdict(result), "tokens_per_s": result.tokens_per_s, "base_eval_loss": base_loss},
        "config": cfg.model_dump(mode="json"), "versions": versions,
    }
