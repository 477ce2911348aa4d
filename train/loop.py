"""The LoRA training loop: AdamW, warm-up then cosine decay, gradient accumulation, bf16 autocast where
the hardware has it, length-grouped batches, periodic evaluation with early stopping, and checkpoints
that a re-run of the same command resumes from. Runs unchanged on CPU and CUDA."""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from schemas.train_config import TrainConfig
from train.data import IGNORE, Encoded, collate, length_grouped_batches

# (event, payload): "step" {step, total, loss, tokens_per_s}, "eval" {step, eval_loss}, "resume" {step}
Hook = Callable[[str, dict], None]


@dataclass
class TrainResult:
    steps: int
    tokens: int
    seconds: float
    train_loss: float | None
    eval_loss: float | None
    best_eval_loss: float | None
    stopped_early: bool
    resumed_from: int | None

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def pick_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def use_bf16(cfg: TrainConfig, device: str) -> bool:
    """bf16 autocast: on CUDA when supported; on CPU when it has native bf16 (AVX-512 BF16 or AMX)."""
    if cfg.precision != "auto":
        return cfg.precision == "bf16"
    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _autocast(device: str, bf16: bool):
    return torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16)


def token_losses(model, batch, device: str, bf16: bool) -> tuple[torch.Tensor, int]:
    """Sum of per-token cross-entropy over trained tokens, and their count.

    The LM head runs only at the positions that predict a trained token: with a 49k vocabulary, full
    logits for every prompt token cost a fifth of the compute and gigabytes of memory for nothing."""
    ids, labels, mask = (t.to(device) for t in batch)
    target = labels[:, 1:]
    keep = target != IGNORE
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    with _autocast(device, bf16):
        hidden = causal_lm.model(input_ids=ids, attention_mask=mask).last_hidden_state
        logits = causal_lm.lm_head(hidden[:, :-1][keep])
    loss = torch.nn.functional.cross_entropy(logits.float(), target[keep], reduction="sum")
    return loss, int(keep.sum())


@torch.no_grad()
def evaluate(model, examples: list[Encoded], pad_id: int, device: str, bf16: bool, batch_size: int = 8) -> float:
    """Mean loss per trained token over ``examples`` (perplexity = exp of it)."""
    model.eval()
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    total, count = 0.0, 0
    for s in range(0, len(order), batch_size):
        loss, n = token_losses(model, collate([examples[i] for i in order[s:s + batch_size]], pad_id), device, bf16)
        total += float(loss)
        count += n
    model.train()
    return total / max(count, 1)


def _set_seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def train_lora(model, pad_id: int, train: list[Encoded], evals: list[Encoded] | None, cfg: TrainConfig,
               device: str, out_dir: Path | None = None, hook: Hook | None = None) -> TrainResult:
    """Train the (already LoRA-wrapped) ``model`` in place. With ``out_dir``, checkpoints go to
    ``out_dir/checkpoints`` and an interrupted run resumes from the newest complete one."""
    from transformers import get_cosine_schedule_with_warmup

    hook = hook or (lambda event, payload: None)
    _set_seed(cfg.seed)
    bf16 = use_bf16(cfg, device)
    lengths = [len(e.input_ids) for e in train]
    per_epoch = math.ceil(math.ceil(len(train) / cfg.batch_size) / cfg.grad_accum)
    total = cfg.max_steps or max(1, math.ceil(per_epoch * cfg.epochs))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = get_cosine_schedule_with_warmup(opt, int(cfg.warmup_ratio * total), total)
    state = {"step": 0, "best": None, "bad_evals": 0, "tokens": 0, "last_eval": None}
    ckpt_root = out_dir / "checkpoints" if out_dir else None
    resumed = _resume(model, opt, sched, state, ckpt_root)
    if resumed is not None:
        hook("resume", {"step": resumed})
    model.train()
    start, losses, stopped = time.perf_counter(), [], False
    step, micro = state["step"], 0
    per_epoch_micro = math.ceil(len(train) / cfg.batch_size)
    epoch, skip = divmod(step * cfg.grad_accum, per_epoch_micro)  # where a resumed run picks up
    while step < total and not stopped:
        batches = length_grouped_batches(lengths, cfg.batch_size, cfg.seed, epoch)
        for b in batches[skip:]:
            loss, n = token_losses(model, collate([train[i] for i in b], pad_id), device, bf16)
            (loss / max(n, 1) / cfg.grad_accum).backward()
            state["tokens"] += sum(lengths[i] for i in b)
            losses.append(float(loss.detach()) / max(n, 1))
            micro += 1
            if micro % cfg.grad_accum:
                continue
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            state["step"] = step
            elapsed = time.perf_counter() - start
            hook("step", {"step": step, "total": total, "loss": sum(losses[-cfg.grad_accum:]) / cfg.grad_accum,
                          "tokens_per_s": state["tokens"] / elapsed if elapsed else 0.0, "lr": sched.get_last_lr()[0]})
            if evals and (step % cfg.eval_every == 0 or step == total):
                stopped = _eval_step(model, evals, pad_id, device, bf16, cfg, state, hook)
            if ckpt_root and (step % cfg.save_every == 0 or step == total or stopped):
                _save_checkpoint(model, opt, sched, state, ckpt_root)
            if step >= total or stopped:
                break
        epoch, skip = epoch + 1, 0
    if evals and state["last_eval"] is None:
        _eval_step(model, evals, pad_id, device, bf16, cfg, state, hook)
    return TrainResult(steps=step, tokens=state["tokens"], seconds=time.perf_counter() - start,
                       train_loss=sum(losses[-20:]) / len(losses[-20:]) if losses else None,
                       eval_loss=state["last_eval"], best_eval_loss=state["best"], stopped_early=stopped,
                       resumed_from=resumed)


def _eval_step(model, evals, pad_id, device, bf16, cfg, state, hook) -> bool:
    loss = evaluate(model, evals, pad_id, device, bf16, cfg.batch_size)
    state["last_eval"] = loss
    hook("eval", {"step": state["step"], "eval_loss": loss, "perplexity": math.exp(min(loss, 50))})
    if state["best"] is None or loss < state["best"] - 1e-4:
        state["best"], state["bad_evals"] = loss, 0
        return False
    state["bad_evals"] += 1
    return cfg.early_stopping_patience is not None and state["bad_evals"] >= cfg.early_stopping_patience


def _save_checkpoint(model, opt, sched, state, root: Path) -> None:
    from peft import get_peft_model_state_dict

    final = root / f"step-{state['step']:07d}"
    tmp = root / f".tmp-step-{state['step']:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save({"adapter": get_peft_model_state_dict(model), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "state": state, "torch_rng": torch.get_rng_state(),
                "py_rng": random.getstate()}, tmp / "state.pt")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)  # complete checkpoints only: a kill mid-save leaves a .tmp folder, ignored on resume
    for old in sorted(root.glob("step-*"))[:-2]:  # keep the two newest
        shutil.rmtree(old, ignore_errors=True)


def _resume(model, opt, sched, state, root: Path | None) -> int | None:
    if root is None or not root.is_dir():
        return None
    done = sorted(p for p in root.glob("step-*") if (p / "state.pt").is_file())
    if not done:
        return None
    from peft import set_peft_model_state_dict

    ckpt = torch.load(done[-1] / "state.pt", weights_only=False)
    set_peft_model_state_dict(model, ckpt["adapter"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    state.update(ckpt["state"])
    torch.set_rng_state(ckpt["torch_rng"])
    random.setstate(ckpt["py_rng"])
    return state["step"]


def write_metrics_line(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
