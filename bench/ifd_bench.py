"""Model-signal scoring speed: Sieve's batched scorer against the CPU's ceiling and a naive loop.

The naive loop is what a first version would do: one row at a time through the Hugging Face model with
``labels=`` (full logits at every position), fp32. Both score the same rows of the 52k Alpaca file
(twice per row: with and without the prompt); the largest difference between their losses is printed.

Two ceilings, both measured here in the scorer's precision and printed with the scorer's share of each:
- the machine's matmul peak: the best of square matmuls (1024, 2048) and the model's own linear shapes
  at the scorer's batch size, each run both as one matmul on all threads and as one matmul per core at
  once (the scorer's layout), the best rate of all. A forward pass counts 2 x parameters FLOPs per token.
- the model's matmul-only rate: the model's own matmuls for one batch (every layer's linears, and the
  LM head on the share of positions the scorer predicts), timed alone, as tokens/s: what the scorer would
  reach if attention, norms and everything else were free.

    python bench/ifd_bench.py [ROWS]      # default 48 rows
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
ALPACA_ROWS = 52_002


def _rate(shapes: list[tuple[int, int, int]], dtype, per_core: bool, seconds: float = 1.0) -> float:
    """FLOP/s of running ``shapes`` (m, k, n) back to back, best of 3 rounds of about ``seconds``; with
    ``per_core``, one copy per core at once, each on one thread."""
    import torch

    mats = [(torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype)) for m, k, n in shapes]
    flops = sum(2 * m * k * n for m, k, n in shapes)

    def run(reps: int) -> None:
        for _ in range(reps):
            for a, w in mats:
                torch.nn.functional.linear(a, w)

    threads = torch.get_num_threads()
    workers = threads if per_core else 1
    torch.set_num_threads(1 if per_core else threads)
    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, [2] * workers))  # warm-up
            start = time.perf_counter()
            list(pool.map(run, [1] * workers))
            reps = max(1, int(seconds / max(time.perf_counter() - start, 1e-6)))
            best = 0.0
            for _ in range(3):
                start = time.perf_counter()
                list(pool.map(run, [reps] * workers))
                best = max(best, workers * reps * flops / (time.perf_counter() - start))
    finally:
        torch.set_num_threads(threads)
    return best


def ceilings(model, dtype, batch_tokens: int, head_share: float) -> tuple[float, str, float]:
    """(machine peak FLOP/s, the shape that reached it, the model's matmul-only tokens/s)."""
    from curate.cpu_workers import MAX_WORKERS

    c = model.config
    h, f, kv = c.hidden_size, c.intermediate_size, c.num_key_value_heads * (c.hidden_size // c.num_attention_heads)
    layer = [(batch_tokens, h, h), (batch_tokens, h, kv), (batch_tokens, h, kv), (batch_tokens, h, h),
             (batch_tokens, h, f), (batch_tokens, h, f), (batch_tokens, f, h)]
    head = [(64, h, c.vocab_size)]  # the scorer's LM head block (curate.model_signals.token_losses)
    candidates = {"square 1024": [(1024, 1024, 1024)], "square 2048": [(2048, 2048, 2048)]}
    candidates.update({f"{m}x{k}x{n}": [(m, k, n)] for m, k, n in dict.fromkeys(layer + head)})
    per_core_ok = MAX_WORKERS > 1
    rates = {(name, pc): _rate(shapes, dtype, pc) for name, shapes in candidates.items()
             for pc in ((False, True) if per_core_ok else (False,))}
    (name, pc), peak = max(rates.items(), key=lambda kv: kv[1])
    # the model's own matmuls for one batch, with the LM head on head_share of its positions
    t_layer = sum(2 * m * k * n for m, k, n in layer) / _rate(layer, dtype, per_core_ok)
    t_head = 2 * head_share * batch_tokens * h * c.vocab_size / _rate(head, dtype, per_core_ok)
    matmul_only = batch_tokens / (c.num_hidden_layers * t_layer + t_head)
    return peak, f"{name}, {'one per core' if pc else 'all threads on one'}", matmul_only


def main() -> None:
    import torch

    from curate.model_signals import _cut_response, _encode, load_scorer, mean_losses, resolve
    from schemas.config import ModelSignalsConfig
    from train.data import IGNORE

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 48
    load_before = os.getloadavg()[0]  # printed: other work on these cores moves every figure
    cfg = ModelSignalsConfig(enabled=True)
    model_dir, _ = resolve(cfg)
    model, tok, device, bf16 = load_scorer(cfg, model_dir)
    dtype = torch.bfloat16 if bf16 else torch.float32
    params = sum(p.numel() for p in model.parameters())
    lines = (DATA / "alpaca_52k" / "alpaca_data_52k.jsonl").read_text().splitlines()

    def sequences(rows: list[dict]) -> list[tuple[list[int], list[int]]]:
        out = []
        for r in rows:
            conv = [{"role": "user", "content": r["instruction"] + (f"\n\n{r['input']}" if r["input"] else "")},
                    {"role": "assistant", "content": r["output"]}]
            cut = _cut_response(tok, conv, cfg.max_response_tokens)
            out += [_encode(tok, cut, cfg.max_length), _encode(tok, [cut[-1]], cfg.max_length)]
        return out

    seqs = sequences([json.loads(x) for x in lines[:n]])
    tokens = sum(len(s[0]) for s in seqs)
    predicted = sum(sum(1 for x in s[1][1:] if x != IGNORE) for s in seqs)

    mean_losses(model, seqs[:4], tok.pad_token_id, device, cfg.batch_tokens)  # warm-up (kernel selection)
    start = time.perf_counter()
    ours = mean_losses(model, seqs, tok.pad_token_id, device, cfg.batch_tokens)
    t_ours = time.perf_counter() - start

    # the same scorer with SDPA attention (PyTorch's fused kernel), which load_scorer swaps for eager on a CPU
    sdpa_rate, sdpa = None, None
    if device == "cpu":
        model.set_attn_implementation("sdpa")
        mean_losses(model, seqs[:4], tok.pad_token_id, device, cfg.batch_tokens)
        start = time.perf_counter()
        sdpa = mean_losses(model, seqs, tok.pad_token_id, device, cfg.batch_tokens)
        sdpa_rate = tokens / (time.perf_counter() - start)
        model.set_attn_implementation("eager")

    start = time.perf_counter()
    naive = []
    fp32 = model.float()  # the naive loop: fp32, as a first version would run it
    with torch.no_grad():
        for ids, labels in seqs:  # one row at a time, full logits
            out = fp32(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
            naive.append(float(out.loss))
    t_naive = time.perf_counter() - start
    model = fp32.to(dtype)

    peak, peak_shape, matmul_only = ceilings(model, dtype, cfg.batch_tokens, predicted / tokens)
    rate = tokens / t_ours
    achieved = 2 * params * rate
    agree = max(abs(a - b) for a, b in zip(ours, naive))
    print(f"model {model_dir} ({params / 1e6:.0f}M parameters), device {device}, "
          f"precision {'bf16' if bf16 else 'fp32'}, {torch.get_num_threads()} threads, {n} rows = {len(seqs)} "
          f"sequences, {tokens:,} tokens, batches of {cfg.batch_tokens} padded tokens")
    print(f"sieve scorer : {rate:8,.0f} tokens/s  ({t_ours:.1f} s)")
    print(f"naive loop   : {tokens / t_naive:8,.0f} tokens/s  ({t_naive:.1f} s)   sieve / naive = {t_naive / t_ours:.2f}x")
    print(f"matmul peak  : {peak / 1e9:8,.1f} GFLOP/s (best of square and model shapes: {peak_shape}); scorer at "
          f"{achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.0%} of the peak (2 x parameters FLOPs per token)")
    print(f"matmul-only  : {matmul_only:8,.0f} tokens/s (the model's own matmuls alone, LM head on "
          f"{predicted / tokens:.0%} of positions); scorer at {rate / matmul_only:.0%} of it")
    print(f"largest loss difference to the naive fp32 loop: {agree:.2e} (mean token loss, nats)")
    if sdpa_rate:
        gap = lambda xs: sum(abs(a - b) for a, b in zip(xs, naive)) / len(naive)  # noqa: E731
        print(f"with SDPA attn: {sdpa_rate:8,.0f} tokens/s; eager / SDPA = {rate / sdpa_rate:.2f}x; mean loss "
              f"difference to the naive fp32 loop: eager {gap(ours):.4f}, SDPA {gap(sdpa):.4f} nats")
    sample = sequences([json.loads(x) for x in lines[:: max(1, len(lines) // 1000)]])
    per_row = sum(len(s[0]) for s in sample) / (len(sample) / 2)
    print(f"{ALPACA_ROWS:,} Alpaca rows at this rate: about {ALPACA_ROWS * per_row / rate / 3600:.1f} h "
          f"(~{per_row:.0f} tokens per row with and without the prompt, from {len(sample) // 2:,} rows "
          "spread over the file)")
    print(f"1-minute load average before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f} "
          f"(this bench's own threads count too; above its thread count, other work shared the cores)")


if __name__ == "__main__":
    main()
