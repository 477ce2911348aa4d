"""Model-signal scoring speed: Sieve's batched scorer against the CPU's ceiling and a naive loop.

The ceiling: a forward pass costs about 2 x (parameters) FLOPs per token; the machine's matmul peak is
measured here, in the precision the scorer uses. The naive loop is what a first version would do: one
row at a time through the Hugging Face model with ``labels=`` (full logits at every position), fp32.
Both score the same rows of the 52k Alpaca file (twice per row: with and without the prompt).

    python bench/ifd_bench.py [ROWS]      # default 48 rows
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"


def matmul_peak(dtype, n: int = 1024, reps: int = 20) -> float:
    """FLOP/s of a square matmul in ``dtype`` on this machine."""
    import torch

    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start)


def main() -> None:
    import torch

    from curate.model_signals import _cut_response, _encode, load_scorer, mean_losses, resolve
    from schemas.config import ModelSignalsConfig

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 48
    cfg = ModelSignalsConfig(enabled=True)
    model_dir, _ = resolve(cfg)
    model, tok, device, bf16 = load_scorer(cfg, model_dir)
    params = sum(p.numel() for p in model.parameters())
    rows = [json.loads(x) for x in (DATA / "alpaca_52k" / "alpaca_data_52k.jsonl").read_text().splitlines()[:n]]
    convs = [[{"role": "user", "content": r["instruction"] + (f"\n\n{r['input']}" if r["input"] else "")},
              {"role": "assistant", "content": r["output"]}] for r in rows]
    seqs = []
    for c in convs:
        cut = _cut_response(tok, c, cfg.max_response_tokens)
        seqs += [_encode(tok, cut, cfg.max_length), _encode(tok, [cut[-1]], cfg.max_length)]
    tokens = sum(len(s[0]) for s in seqs)

    mean_losses(model, seqs[:4], tok.pad_token_id, device, cfg.batch_tokens)  # warm-up (kernel selection)
    start = time.perf_counter()
    ours = mean_losses(model, seqs, tok.pad_token_id, device, cfg.batch_tokens)
    t_ours = time.perf_counter() - start

    start = time.perf_counter()
    naive = []
    model = model.float()  # the naive loop: fp32, as a first version would run it
    with torch.no_grad():
        for ids, labels in seqs:  # one row at a time, full logits
            out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
            naive.append(float(out.loss))
    t_naive = time.perf_counter() - start

    peak = matmul_peak(torch.bfloat16 if bf16 else torch.float32)
    rate = tokens / t_ours
    achieved = 2 * params * rate
    agree = max(abs(a - b) for a, b in zip(ours, naive))
    print(f"model {model_dir} ({params / 1e6:.0f}M parameters), device {device}, "
          f"precision {'bf16' if bf16 else 'fp32'}, {n} rows = {len(seqs)} sequences, {tokens:,} tokens")
    print(f"sieve scorer : {rate:8,.0f} tokens/s  ({t_ours:.1f} s)")
    print(f"naive loop   : {tokens / t_naive:8,.0f} tokens/s  ({t_naive:.1f} s)   sieve / naive = {t_naive / t_ours:.2f}x")
    print(f"matmul peak  : {peak / 1e9:8,.1f} GFLOP/s; scorer at {achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.0%} "
          f"of the ceiling (2 x parameters FLOPs per token)")
    print(f"largest loss difference to the naive loop: {agree:.2e}")
    per_row = 2 * tokens / len(seqs) if seqs else 0
    print(f"52,002 Alpaca rows at this rate: about {52_002 * per_row / rate / 3600:.1f} h "
          f"(~{per_row:.0f} tokens per row, with and without the prompt)")


if __name__ == "__main__":
    main()
