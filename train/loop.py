"""The LoRA training loop: AdamW, warm-up then cosine decay, gradient accumulation, bf16 autocast where
the hardware has it, length-grouped batches, periodic evaluation with early stopping (which restores the
best adapter), and checkpoints that a re-run of the same command resumes from. Runs unchanged on CPU and
CUDA, and on several processes under torchrun (``train.distributed``: each optimizer step's micro-batches
are dealt out across the ranks and their gradients summed, so N processes train the adapter one process
would with N times the gradient accumulation).

Loss is normalised by tokens over the whole accumulated batch: the sum of token losses of all its
micro-batches divided by their trained tokens, so a short answer counts as much per token as a long one
whatever micro-batch (or rank) it lands in."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from schemas.train_config import TrainConfig
from train import checkpoint
from train.data import IGNORE, Encoded, collate, length_grouped_batches
from train.distributed import Dist

# (event, payload): "step" {step, total, loss, tokens_per_s}, "eval" {step, eval_loss}, "resume" {step},
# "restore" {step, eval_loss}
Hook = Callable[[str, dict], None]
RECENT = 20  # the reported train loss is the mean of the last 20 steps: smooths batch noise, follows the end


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
    best_step: int | None = None
    restored_best: bool = False
    base_eval_loss: float | None = None

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


def accumulate(model, micro_batches: list, device: str, bf16: bool, dist: Dist | None = None) -> tuple[float, int]:
    """Backward pass of one accumulated batch, normalised by all its trained tokens (not a mean of
    per-micro-batch means); returns (mean loss per trained token, trained tokens).

    With ``dist``, ``micro_batches`` are this rank's share of the step: the normaliser is the trained
    tokens of every rank's share, and the gradients are summed over the ranks afterwards, so each rank
    ends with the gradient (and returns the loss) of the whole step."""
    dist = dist or Dist()
    local = sum(int((labels[:, 1:] != IGNORE).sum()) for _, labels, _ in micro_batches)
    tokens = int(dist.sum([local])[0])
    total = 0.0
    for batch in micro_batches:
        loss, _ = token_losses(model, batch, device, bf16)
        (loss / max(tokens, 1)).backward()
        total += float(loss.detach())
    dist.sum_grads([p for p in model.parameters() if p.requires_grad])
    return dist.sum([total])[0] / max(tokens, 1), tokens


@torch.no_grad()
def evaluate(model, examples: list[Encoded], pad_id: int, device: str, bf16: bool, batch_size: int = 8,
             dist: Dist | None = None) -> float:
    """Mean loss per trained token over ``examples`` (perplexity = exp of it). With ``dist``, every rank
    must call it: each evaluates every world-th batch of the same batches one process would make, and
    all ranks return the summed result (so they agree on early stopping without another message)."""
    dist = dist or Dist()
    model.eval()
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    total, count = 0.0, 0
    for s in range(dist.rank * batch_size, len(order), batch_size * dist.world):
        loss, n = token_losses(model, collate([examples[i] for i in order[s:s + batch_size]], pad_id), device, bf16)
        total += float(loss)
        count += n
    model.train()
    total, count = dist.sum([total, count])
    return total / max(count, 1)


def _set_seed(seed: int) -> None:  # torch's seed drives dropout; data order has its own seeded RNG
    random.seed(seed)
    torch.manual_seed(seed)


def init_lora(model, seed: int) -> None:
    """Draw fresh LoRA weights from ``seed`` with peft's own initialisation (A random, B zero, so the
    adapter starts as the base model): each learning-curve seed starts from its own initialisation."""
    from peft.tuners.lora import LoraLayer

    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, LoraLayer):
            for name in module.lora_A:
                module.reset_lora_parameters(name, model.peft_config[name].init_lora_weights)


def train_lora(model, pad_id: int, train: list[Encoded], evals: list[Encoded] | None, cfg: TrainConfig,
               device: str, out_dir: Path | None = None, hook: Hook | None = None, fingerprint: dict | None = None,
               base_eval_loss: float | None = None, dist: Dist | None = None) -> TrainResult:
    """Train the (already LoRA-wrapped) ``model`` in place. With ``out_dir``, checkpoints go to
    ``out_dir/checkpoints`` and an interrupted run resumes from the newest complete one, provided it
    carries ``fingerprint`` (else :class:`~train.errors.CheckpointMismatchError`). With ``evals`` and
    ``cfg.restore_best``, the model ends with the adapter of its best evaluation.

    With ``dist`` (every rank calls this with the same arguments), one optimizer step takes
    ``batch_size x grad_accum x world`` rows: the micro-batches a one-process run with ``grad_accum x
    world`` would accumulate, dealt out across the ranks. Only rank 0 calls ``hook`` and writes
    checkpoints; every rank ends with the same adapter."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict
    from transformers import get_cosine_schedule_with_warmup

    dist = dist or Dist()
    hook = hook if hook and dist.main else (lambda event, payload: None)
    _set_seed(cfg.seed + dist.rank)  # its own dropout masks per rank; rank 0 draws what one process would
    bf16 = use_bf16(cfg, device)
    lengths = [len(e.input_ids) for e in train]
    span = cfg.grad_accum * dist.world  # micro-batches per optimizer step, over all ranks
    per_epoch = math.ceil(math.ceil(len(train) / cfg.batch_size) / span)  # optimizer steps
    total = cfg.max_steps or max(1, math.ceil(per_epoch * cfg.epochs))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = get_cosine_schedule_with_warmup(opt, int(cfg.warmup_ratio * total), total)
    state = {"step": 0, "best": None, "best_step": None, "progress_ref": None, "bad_evals": 0, "tokens": 0,
             "last_eval": None, "seconds": 0.0, "recent_losses": [], "base_eval_loss": base_eval_loss}
    best: dict = {}  # the adapter at the best evaluation so far
    ckpt_root = out_dir / "checkpoints" if out_dir else None
    resumed = None
    if ckpt_root and fingerprint is None:
        fingerprint = checkpoint.fingerprint(None, train, evals, cfg, world_size=dist.world)
    got = checkpoint.load(ckpt_root, fingerprint) if ckpt_root else None
    if got is not None:
        tensors, meta = got
        set_peft_model_state_dict(model, tensors["adapter"])
        opt.load_state_dict(tensors["optimizer"])
        torch.set_rng_state(tensors.get("torch_rng_ranks", [tensors["torch_rng"]] * dist.world)[dist.rank])
        best = tensors.get("best_adapter", {})
        sched.load_state_dict(meta["scheduler"])
        state.update(meta["state"])
        version, internal, gauss = meta["py_rng"]
        random.setstate((version, tuple(internal), gauss))
        resumed = state["step"]
        hook("resume", {"step": resumed})
    dist.broadcast(params)  # the same start on every rank (the same seed already draws it; this makes sure)
    model.train()
    start, seconds_before, stopped = time.perf_counter(), state["seconds"], False
    step = state["step"]
    epoch, skip = divmod(step, per_epoch)  # where a resumed run picks up
    while step < total and not stopped:
        batches = length_grouped_batches(lengths, cfg.batch_size, cfg.seed, epoch, cfg.length_group_batches)
        groups = [batches[g:g + span] for g in range(0, len(batches), span)]
        for group in groups[skip:]:
            mine = group[dist.rank::dist.world]  # round-robin: a short last step is split as evenly as it can be
            loss, _ = accumulate(model, [collate([train[i] for i in b], pad_id) for b in mine], device, bf16, dist)
            state["tokens"] += sum(lengths[i] for b in group for i in b)
            state["recent_losses"] = (state["recent_losses"] + [loss])[-RECENT:]
            if cfg.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            state["step"] = step
            state["seconds"] = seconds_before + time.perf_counter() - start
            hook("step", {"step": step, "total": total, "loss": loss, "lr": sched.get_last_lr()[0],
                          "tokens_per_s": state["tokens"] / state["seconds"] if state["seconds"] else 0.0})
            if evals and (step % cfg.eval_every == 0 or step == total):
                stopped = _eval_step(model, evals, pad_id, device, bf16, cfg, state, hook, dist)
                if state["best_step"] == step:
                    best = {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}
            if ckpt_root and (step % cfg.save_every == 0 or step == total or stopped):
                rngs = dist.gather(torch.get_rng_state())  # each rank's dropout RNG, for an exact resume
                tensors = {"adapter": get_peft_model_state_dict(model), "optimizer": opt.state_dict(),
                           "torch_rng": rngs[0], **({"torch_rng_ranks": rngs} if dist.world > 1 else {}),
                           **({"best_adapter": best} if best else {})}
                meta = {"state": state, "scheduler": sched.state_dict(), "py_rng": random.getstate(),
                        "fingerprint": fingerprint}
                dist.on_main(lambda: checkpoint.save(ckpt_root, step, tensors, meta))
            if step >= total or stopped:
                break
        epoch, skip = epoch + 1, 0
    if evals and state["last_eval"] is None:
        _eval_step(model, evals, pad_id, device, bf16, cfg, state, hook, dist)
    restored = bool(cfg.restore_best and best and state["best_step"] != state["step"])
    if restored:
        set_peft_model_state_dict(model, best)
        hook("restore", {"step": state["best_step"], "eval_loss": state["best"]})
    recent = state["recent_losses"]
    return TrainResult(steps=step, tokens=state["tokens"], seconds=state["seconds"],
                       train_loss=sum(recent) / len(recent) if recent else None,
                       eval_loss=state["best"] if restored else state["last_eval"], best_eval_loss=state["best"],
                       stopped_early=stopped, resumed_from=resumed, best_step=state["best_step"],
                       restored_best=restored, base_eval_loss=state["base_eval_loss"])


def _eval_step(model, evals, pad_id, device, bf16, cfg, state, hook, dist: Dist) -> bool:
    """Evaluate and track the best loss; True when early stopping says stop (on every rank alike)."""
    loss = evaluate(model, evals, pad_id, device, bf16, cfg.batch_size, dist)
    hook("eval", {"step": state["step"], "eval_loss": loss, "perplexity": math.exp(min(loss, 50))})
    return track_eval(state, loss, cfg)


def track_eval(state: dict, loss: float, cfg: TrainConfig) -> bool:
    """Record eval ``loss`` at ``state["step"]``: the lowest loss however slight (the adapter to restore),
    and progress for patience only when lower by ``early_stopping_min_delta``. True: stop now."""
    state["last_eval"] = loss
    if state["best"] is None or loss < state["best"]:
        state["best"], state["best_step"] = loss, state["step"]
    if state["progress_ref"] is None or loss < state["progress_ref"] - cfg.early_stopping_min_delta:
        state["progress_ref"], state["bad_evals"] = loss, 0
        return False
    state["bad_evals"] += 1
    return cfg.early_stopping_patience is not None and state["bad_evals"] >= cfg.early_stopping_patience


def write_metrics_line(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
