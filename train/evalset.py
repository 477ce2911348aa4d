"""Evaluation sets of a learning curve and their per-row losses.

An eval set is a list of encoded conversations whose assistant tokens are scored. The learning curve keeps
each row's loss (sum over its assistant tokens) and token count, not only the mean: two arms evaluated on
the same rows can then be compared row by row (a paired comparison), which is what makes a small gap
measurable.

Scoring is fast on purpose: rows are sorted by length and cut into batches of a token budget (little
padding, few kernel launches), and the LM head runs only at the positions that predict an assistant token
(:func:`train.loop.token_losses` does the same for training).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from train.data import IGNORE, Encoded, collate


@dataclass
class EvalSet:
    name: str                    # what the reports call it: the file's stem, or "defect:<class>"
    examples: list[Encoded]
    rows: list[list[dict]] = field(default_factory=list)  # each row's conversation (messages)
    source: str = ""
    ref_index: list[int] | None = None  # a defect set: the row of the reference set asked the same prompt

    @property
    def tokens(self) -> list[int]:
        return [sum(lab != IGNORE for lab in e.labels) for e in self.examples]


def token_batches(lengths: list[int], batch_tokens: int) -> list[list[int]]:
    """Row indices sorted by length and cut so that a batch's padded size (rows x longest row) stays within
    ``batch_tokens`` (a row longer than the budget gets a batch of its own)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches, current = [], []
    for i in order:
        if current and (len(current) + 1) * lengths[i] > batch_tokens:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


@torch.no_grad()
def row_losses(model, examples: list[Encoded], pad_id: int, device: str, bf16: bool,
               batch_tokens: int = 4096) -> list[float]:
    """The summed assistant-token loss of each row of ``examples``, in their order."""
    out = [0.0] * len(examples)
    was_training = model.training
    model.eval()
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    for batch in token_batches([len(e.input_ids) for e in examples], batch_tokens):
        ids, labels, mask = (t.to(device) for t in collate([examples[i] for i in batch], pad_id))
        target = labels[:, 1:]
        keep = target != IGNORE
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            hidden = causal_lm.model(input_ids=ids, attention_mask=mask).last_hidden_state
            logits = causal_lm.lm_head(hidden[:, :-1][keep])
        per_token = torch.nn.functional.cross_entropy(logits.float(), target[keep], reduction="none")
        which = torch.arange(len(batch), device=per_token.device).unsqueeze(1).expand_as(target)[keep]
        sums = torch.zeros(len(batch), dtype=torch.float64, device=per_token.device)
        sums.index_add_(0, which, per_token.double())
        for slot, i in enumerate(batch):
            out[i] = float(sums[slot])
    if was_training:
        model.train()
    return out


def mean_loss(losses: list[float], tokens: list[int]) -> float:
    """Loss per assistant token over a set (token-weighted, as training's loss is)."""
    return sum(losses) / max(sum(tokens), 1)


def user_prompt(messages: list[dict]) -> list[dict]:
    """The conversation up to (not including) its last assistant turn: what a model is asked to answer."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return [dict(m) for m in messages[:last]]


def load_eval_set(path: str | Path, tok, cfg) -> tuple[EvalSet, list[dict]]:
    """An eval file as an :class:`EvalSet` (its first ``cfg.max_eval_rows`` usable rows, cut to
    ``max_length``) and ALL its rows (every one must be kept out of training, scored or not). Raises
    :class:`~train.errors.NoTrainingRowsError` for a file without usable rows."""
    from train.data import load_conversations
    from train.errors import NoTrainingRowsError

    rows, _ = load_conversations(path)
    found = encode_set(Path(path).stem, rows, tok, cfg.max_length, cfg.max_eval_rows)
    if not found.examples:
        raise NoTrainingRowsError(f"--eval {path}: no usable eval rows in it")
    found.source = str(path)
    return found, rows


def encode_set(name: str, rows: list[dict], tok, max_length: int, limit: int) -> EvalSet:
    """Rows (``{"id", "messages"}``) as an :class:`EvalSet` of at most ``limit`` usable rows."""
    from train.data import encode

    examples, kept = [], []
    for row in rows:
        if len(examples) >= limit:
            break
        got = encode(tok, row, max_length, True)
        if isinstance(got, Encoded):
            examples.append(got)
            kept.append(row["messages"])
    return EvalSet(name, examples, kept, name)
