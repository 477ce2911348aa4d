"""Learning-curve evaluation speed: Sieve's scoring and sampling against a naive per-row loop, in one process.

- Scoring (reference fit, defect margins): Sieve sorts rows by length, batches them by a token budget, and
  runs the LM head only where an assistant token is predicted, in bf16 weights where the CPU has native
  bf16 (train.evalset.row_losses via train.curve.measure). The naive loop is the usual Hugging Face call,
  one row at a time, fp32, ``model(input_ids, labels=...)`` with full logits.
- Sampling: Sieve decodes all prompts in left-padded batches with the KV cache (train.sampling); the naive
  loop calls ``generate`` once per prompt, fp32.

Both score the same rows of the SmolLM2 default model and print tokens/s and the ratio. The per-row
losses of both are compared too (bf16 against fp32: a few percent on the worst row).

Usage: python bench/eval_bench.py [--rows 60] [--prompts 8] [--new-tokens 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
EVAL = ROOT.parent / "shared" / "data" / "self_instruct_252" / "user_oriented_252_alpaca.jsonl"


def naive_losses(model, examples) -> tuple[list[float], float]:
    import torch

    from train.data import IGNORE

    out, start = [], time.perf_counter()
    with torch.no_grad():
        for e in examples:
            ids = torch.tensor([e.input_ids])
            labels = torch.tensor([e.labels])
            loss = model(input_ids=ids, labels=labels).loss  # mean over trained tokens
            out.append(float(loss) * sum(lab != IGNORE for lab in e.labels[1:]))
    return out, time.perf_counter() - start


def naive_generate(model, tok, prompts, new_tokens: int) -> tuple[int, float]:
    import torch

    made, start = 0, time.perf_counter()
    with torch.no_grad():
        for p in prompts:
            enc = tok.apply_chat_template(p, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            torch.manual_seed(0)
            out = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=new_tokens,
                                 pad_token_id=tok.pad_token_id)
            made += out.shape[1] - enc["input_ids"].shape[1]
    return made, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=60)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=64)
    a = ap.parse_args()

    import torch

    from schemas.train_config import TrainConfig
    from train.evalset import load_eval_set, row_losses, user_prompt
    from train.loop import pick_device, use_bf16
    from train.model import load_model, load_tokenizer, resolve_model_dir
    from train.sampling import bf16_copy, sample_answers

    cfg = TrainConfig(max_eval_rows=a.rows, max_length=512)
    model_dir = resolve_model_dir(cfg)
    tok = load_tokenizer(model_dir)
    device = pick_device()
    bf16 = use_bf16(cfg, device)
    model = load_model(model_dir, cfg, device).eval()
    evals, _ = load_eval_set(EVAL, tok, cfg)
    tokens = sum(len(e.input_ids) for e in evals.examples)
    print(f"CPU threads {torch.get_num_threads()}, device {device}, Sieve precision {'bf16' if bf16 else 'fp32'}; "
          f"{len(evals.examples)} eval rows, {tokens:,} tokens")

    naive, naive_s = naive_losses(model, evals.examples)
    fast_model = bf16_copy(model) if bf16 else model
    start = time.perf_counter()
    fast = row_losses(fast_model, evals.examples, tok.pad_token_id, device, False, cfg.curve.eval_batch_tokens)
    fast_s = time.perf_counter() - start
    rel = max(abs(f - n) / max(abs(n), 1e-9) for f, n in zip(fast, naive))
    print(f"scoring  naive per-row fp32 : {tokens / naive_s:8,.0f} tokens/s ({naive_s:.1f} s)")
    print(f"scoring  sieve              : {tokens / fast_s:8,.0f} tokens/s ({fast_s:.1f} s)  "
          f"{naive_s / fast_s:.2f}x naive; largest per-row loss difference {rel:.2%}")

    prompts = [user_prompt(m) for m in evals.rows[:a.prompts]]
    made, slow_s = naive_generate(model, tok, prompts, a.new_tokens)
    start = time.perf_counter()
    answers = sample_answers(model, tok, prompts, device, bf16, 0, a.new_tokens, 1.0, 1)
    gen_s = time.perf_counter() - start
    sieve_made = sum(a_.tokens + (0 if a_.capped else 1) for a_ in answers)
    print(f"sampling naive per-prompt   : {made / slow_s:8,.1f} new tokens/s ({made} tokens, {slow_s:.1f} s)")
    print(f"sampling sieve batched      : {sieve_made / gen_s:8,.1f} new tokens/s ({sieve_made} tokens, {gen_s:.1f} s)  "
          f"{(sieve_made / gen_s) / (made / slow_s):.2f}x naive")


if __name__ == "__main__":
    main()
