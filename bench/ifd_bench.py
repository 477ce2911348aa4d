"""Model-signal scoring speed: Sieve's batched scorer against the CPU's ceiling and a naive loop.

The naive loop is what a first version would do: one row at a time through the Hugging Face model with
``labels=`` (full logits at every position), fp32. Both score the same rows of the 52k Alpaca file
(twice per row: with and without the prompt); the largest difference between their losses is printed.

Two ceilings, both measured here in the scorer's precision and printed with the scorer's share of each:
- the machine's matmul peak: the best of square matmuls (1024, 2048) and the model's own linear shapes
  at the scorer's batch size (plain and fused), each run as one matmul on all threads and as one matmul
  per core at once (the scorer's layout), through ``F.linear`` and with oneDNN-prepacked weights (as the
  scorer's), the best rate of all. A forward pass counts 2 x parameters FLOPs per token.
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
RUNS = 3  # the scorer's timed runs; the best is its figure


def _rate(shapes: list[tuple[int, int, int]], dtype, per_core: bool, prepacked: bool,
          seconds: float = 1.0) -> float:
    """FLOP/s of running ``shapes`` (m, k, n) back to back, best of 3 rounds of about ``seconds``; with
    ``per_core``, one copy per core at once, each on one thread; with ``prepacked``, weights prepacked for
    oneDNN as the scorer's (curate.packed_forward._linear), else ``F.linear``."""
    import torch

    from curate.packed_forward import _linear

    mats = []
    for m, k, n in shapes:
        w = torch.randn(n, k, dtype=dtype)
        mats.append((torch.randn(m, k, dtype=dtype), _linear(w) if prepacked else
                     (lambda x, w=w: torch.nn.functional.linear(x, w))))
    flops = sum(2 * m * k * n for m, k, n in shapes)

    def run(reps: int) -> None:
        for _ in range(reps):
            for a, linear in mats:
                linear(a)

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
    """(machine peak FLOP/s, how it was reached, the model's matmul-only tokens/s)."""
    import torch

    from curate.cpu_workers import MAX_WORKERS
    from curate.packed_forward import _prepack_works, supports

    from curate.packed_forward import _head_dim

    c = model.config
    h, f, b = c.hidden_size, c.intermediate_size, batch_tokens
    q, kv = c.num_attention_heads * _head_dim(c), c.num_key_value_heads * _head_dim(c)
    plain = [(b, h, q), (b, h, kv), (b, h, kv), (b, q, h), (b, h, f), (b, h, f), (b, f, h)]
    fused = [(b, h, q + 2 * kv), (b, q, h), (b, h, 2 * f), (b, f, h)]  # curate.packed_forward's matmuls
    head = [(256, h, c.vocab_size)]  # the scorer's LM head block on a CPU (curate.model_signals.token_losses)
    candidates = {"square 1024": [(1024, 1024, 1024)], "square 2048": [(2048, 2048, 2048)]}
    candidates.update({f"{m}x{k}x{n}": [(m, k, n)] for m, k, n in
                       dict.fromkeys(plain + fused + head + [(64, h, c.vocab_size)])})
    per_core_ok = MAX_WORKERS > 1
    packs = (False, True) if dtype == torch.bfloat16 and _prepack_works() else (False,)
    rates = {(name, pc, pp): _rate(shapes, dtype, pc, pp) for name, shapes in candidates.items()
             for pc in ((False, True) if per_core_ok else (False,)) for pp in packs}
    (name, pc, pp), peak = max(rates.items(), key=lambda kv: kv[1])
    # the scorer's own matmuls for one batch, with the LM head on head_share of its positions
    layer, pp_model = (fused, packs[-1]) if supports(model) else (plain, False)
    t_layer = sum(2 * m * k * n for m, k, n in layer) / _rate(layer, dtype, per_core_ok, pp_model)
    t_head = 2 * head_share * b * h * c.vocab_size / _rate(head, dtype, per_core_ok, pp_model)
    matmul_only = b / (c.num_hidden_layers * t_layer + t_head)
    how = f"{name}, {'one per core' if pc else 'all threads on one'}, {'oneDNN prepacked' if pp else 'F.linear'}"
    return peak, how, matmul_only


def main() -> None:
    import torch

    from curate import packed_forward
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

    def timed(packed: bool = True, runs: int = RUNS) -> tuple[list[float], list[float]]:
        """(losses, seconds of each run): the best run is the figure, as the peak's best of 3 rounds."""
        mean_losses(model, seqs[:4], tok.pad_token_id, device, cfg.batch_tokens, packed=packed)  # warm-up
        seconds = []
        for _ in range(runs):
            start = time.perf_counter()
            losses = mean_losses(model, seqs, tok.pad_token_id, device, cfg.batch_tokens, packed=packed)
            seconds.append(time.perf_counter() - start)
        return losses, seconds

    ours, runs = timed()
    t_ours = min(runs)
    # Hugging Face's padded forward, which models packed_forward does not support run (eager attention on
    # a CPU, as load_scorer sets it; SDPA for comparison)
    hf = {}
    if packed_forward.supports(model):
        for attn in (("eager", "sdpa") if device == "cpu" else ("sdpa",)):
            model.set_attn_implementation(attn)
            hf[attn] = timed(packed=False)
        model.set_attn_implementation("eager" if device == "cpu" else "sdpa")

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
    # what the scorer executes: the layers' matmuls at every token, the LM head only where a token is
    # predicted, no FLOPs for the embedding lookup (a tied head is one tensor in params)
    emb, head_params = model.model.embed_tokens.weight, model.lm_head.weight.numel()
    tied = emb.data_ptr() == model.lm_head.weight.data_ptr()
    body = params - emb.numel() - (0 if tied else head_params)
    executed = (2 * body + 2 * head_params * predicted / tokens) * rate
    median = sorted(runs)[len(runs) // 2]
    agree = max(abs(a - b) for a, b in zip(ours, naive))
    print(f"model {model_dir} ({params / 1e6:.0f}M parameters), device {device}, "
          f"precision {'bf16' if bf16 else 'fp32'}, {torch.get_num_threads()} threads, {n} rows = {len(seqs)} "
          f"sequences, {tokens:,} tokens, batches of {cfg.batch_tokens} padded tokens")
    print(f"sieve scorer : {rate:8,.0f} tokens/s  (best of {len(runs)} runs: "
          f"{', '.join(f'{x:.2f}' for x in runs)} s; median {tokens / median:,.0f} tokens/s; "
          f"packed forward: {packed_forward.supports(model)})")
    print(f"naive loop   : {tokens / t_naive:8,.0f} tokens/s  ({t_naive:.1f} s)   sieve / naive = {t_naive / t_ours:.2f}x")
    print(f"matmul peak  : {peak / 1e9:8,.1f} GFLOP/s (best of square and model shapes: {peak_shape}); scorer at "
          f"{achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.0%} of the peak (2 x parameters FLOPs per token); "
          f"counting only the FLOPs it runs (LM head at predicted tokens): {executed / peak:.0%}")
    print(f"matmul-only  : {matmul_only:8,.0f} tokens/s (the model's own matmuls alone, LM head on "
          f"{predicted / tokens:.0%} of positions); scorer at {rate / matmul_only:.0%} of it")
    print(f"largest loss difference to the naive fp32 loop: {agree:.2e} (mean token loss, nats)")
    gap = lambda xs: sum(abs(a - b) for a, b in zip(xs, naive)) / len(naive)  # noqa: E731
    print(f"mean loss difference to the naive fp32 loop: sieve scorer {gap(ours):.4f} nats")
    for attn, (losses, secs) in hf.items():
        print(f"Hugging Face forward ({attn} attn, padded batches, same batching): {tokens / min(secs):8,.0f} "
              f"tokens/s (best of {len(secs)}); sieve / it = {min(secs) / t_ours:.2f}x; mean loss difference "
              f"{gap(losses):.4f} nats")
    sample = sequences([json.loads(x) for x in lines[:: max(1, len(lines) // 1000)]])
    per_row = sum(len(s[0]) for s in sample) / (len(sample) / 2)
    print(f"{ALPACA_ROWS:,} Alpaca rows at the median rate: about {ALPACA_ROWS * per_row / (tokens / median) / 3600:.1f} h "
          f"(~{per_row:.0f} tokens per row with and without the prompt, from {len(sample) // 2:,} rows "
          "spread over the file)")
    print(f"1-minute load average before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f} "
          f"(this bench's own threads count too; above its thread count, other work shared the cores)")


if __name__ == "__main__":
    main()
