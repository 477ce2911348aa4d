"""Sampled answers to held-out prompts, checked by Sieve's own curate rules.

Greedy decoding hides any defect the model prefers less than half the time, so answers are sampled (at
temperature 1 by default). Prompts are rendered with the chat template, sorted by length and generated in
left-padded batches with the KV cache. Each answer is then run through ``sieve curate``'s rules as the
response to its prompt; the share of answers flagged per reason is what a learning curve reports. An answer
that stops at the token cap is counted as ``capped``, never as ``format.truncated``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

# Reasons that are not a defect of one answer: duplicates among a point's own answers, limits of the
# training setup, and defects of the eval prompt itself (the same for every arm).
NOT_ANSWER_DEFECTS = ("dedup.", "length.response_too_long", "length.prompt_too_long", "contamination.",
                      "content.placeholder_prompt", "content.external_reference")


@dataclass
class Answer:
    prompt: int        # index into the prompts
    text: str
    tokens: int
    capped: bool       # stopped at max_new_tokens, not at an end-of-turn token


def _eos_ids(model, tok) -> set[int]:
    ids = {tok.eos_token_id}
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids |= set(eos) if isinstance(eos, (list, tuple)) else {eos}
    return {i for i in ids if i is not None}


def bf16_copy(model):
    """A bf16 copy of ``model`` for decoding. Under autocast, frozen fp32 weights (a LoRA model's whole base)
    are cast to bf16 again at every call, i.e. at every generated token: 4x slower than bf16 weights."""
    import copy

    return copy.deepcopy(model).to(torch.bfloat16)


@torch.no_grad()
def sample_answers(model, tok, prompts: list[list[dict]], device: str, bf16: bool, seed: int,
                   max_new_tokens: int = 160, temperature: float = 1.0, samples: int = 1,
                   batch_size: int = 48) -> list[Answer]:
    """``samples`` answers per prompt (a conversation ending before the assistant's turn), in prompt order.
    With ``bf16``, a bf16 copy of the model decodes (see :func:`bf16_copy`); ``model`` is left as it is."""
    if bf16:
        model, bf16 = bf16_copy(model), False
    texts = [tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    order = [i for i in sorted(range(len(texts)), key=lambda i: lengths[i]) for _ in range(samples)]
    eos = _eos_ids(model, tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else next(iter(eos))
    side, tok.padding_side = tok.padding_side, "left"
    was_training = model.training
    model.eval()
    torch.manual_seed(seed)
    answers: list[Answer] = []
    try:
        for s in range(0, len(order), batch_size):
            batch = order[s:s + batch_size]
            enc = tok([texts[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
                out = model.generate(**enc, do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                                     max_new_tokens=max_new_tokens, pad_token_id=pad, use_cache=True)
            for row, i in zip(out[:, enc["input_ids"].shape[1]:].tolist(), batch):
                stop = next((k for k, t in enumerate(row) if t in eos), None)
                kept = row if stop is None else row[:stop]
                answers.append(Answer(i, tok.decode(kept, skip_special_tokens=True).strip(), len(kept), stop is None))
    finally:
        tok.padding_side = side
        if was_training:
            model.train()
    answers.sort(key=lambda a: a.prompt)
    return answers


def check_answers(prompts: list[list[dict]], answers: list[Answer], languages: list[str] | None = None) -> list[list[str]]:
    """The curate reason codes of each answer as the response to its prompt (``languages``: the languages
    expected, e.g. those of the training run; ``None`` lets curate decide from the answers themselves)."""
    from curate.pipeline import run_curate
    from schemas.config import CurateConfig

    if not answers:
        return []
    cfg = CurateConfig()
    if languages:
        cfg = cfg.model_copy(update={"signals": cfg.signals.model_copy(update={"languages": list(languages)})})
    with tempfile.TemporaryDirectory(prefix="sieve-answers-") as tmp:
        path = Path(tmp) / "answers.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for a in answers:
                messages = prompts[a.prompt] + [{"role": "assistant", "content": a.text}]
                fh.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
        frame = run_curate([path], cfg).frame.sort("row_idx")
    out = []
    for a, reasons in zip(answers, frame["reasons"].to_list()):
        codes = [r for r in reasons or [] if not r.startswith(NOT_ANSWER_DEFECTS)]
        if a.capped:
            codes = [r for r in codes if r != "format.truncated"]
        out.append(codes)
    return out


def summarise_answers(answers: list[Answer], reasons: list[list[str]]) -> dict:
    """Share of answers flagged (any reason, and per reason), capped share and mean length in tokens."""
    n = len(answers)
    per: dict[str, int] = {}
    for codes in reasons:
        for code in set(codes):
            per[code] = per.get(code, 0) + 1
    return {"answers": n, "flagged": sum(bool(c) for c in reasons) / n if n else None,
            "per_reason": {k: v / n for k, v in sorted(per.items())}, "capped": sum(a.capped for a in answers) / n if n else None,
            "mean_tokens": sum(a.tokens for a in answers) / n if n else None,
            "flagged_rows": [int(bool(c)) for c in reasons], "reasons": reasons,
            "texts": [a.text for a in answers]}
