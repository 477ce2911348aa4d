"""Embedding speed: Sieve's path (curate/embeddings.py) against sentence-transformers'
``SentenceTransformer.encode`` on the same model and the same real Alpaca texts, at equal settings.

Equal settings: the same unpacked all-MiniLM-L6-v2 folder (offline), the same precision (the one Sieve
picks at run time: bf16 where the hardware has it), the same threads, the same 256-token cut, mean
pooling and L2-normalised vectors. Batching is each path's own: Sieve's token-budget batches, and
``encode`` at its default ``batch_size=32`` and at the best of a few sizes (so the ratio is not won by a
bad batch size). Each path is timed alternately, best of ``REPEATS`` runs, since this machine is shared.

sentence-transformers is only needed here: ``pip install -e '.[bench]'`` (or
``pip install --no-deps sentence-transformers scikit-learn`` so pip does not touch torch).

    python bench/embed_bench.py [TEXTS]      # default 512 prompt+response texts
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
REPEATS = 3
BATCH_SIZES = (16, 32, 64)  # 32 is encode's default


def best_seconds(fn, repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the packaged model only; never the hub
    import numpy as np
    import torch

    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        sys.exit("this bench needs sentence-transformers: pip install -e '.[bench]'")

    from curate.embeddings import MAX_TOKENS, embed_texts, model_dir, native_bf16
    from schemas.config import ModelSignalsConfig

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    load_before = os.getloadavg()[0]  # printed: other work on these cores moves every figure
    rows = [json.loads(x) for x in (DATA / "alpaca_52k" / "alpaca_data_52k.jsonl").read_text().splitlines()[:n]]
    texts = [f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in rows]
    folder = model_dir(ModelSignalsConfig().cache_dir)
    dtype = torch.bfloat16 if native_bf16() else torch.float32

    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True).to(dtype).eval()
    st.max_seq_length = MAX_TOKENS

    def encode(bs: int) -> np.ndarray:
        return st.encode(texts, batch_size=bs, normalize_embeddings=True, convert_to_numpy=True,
                         show_progress_bar=False)

    embed_texts(texts[:16], folder)  # warm-up, both paths
    encode(32)

    ours = embed_texts(texts, folder)
    theirs = encode(32)
    t_ours, t_st = float("inf"), {bs: float("inf") for bs in BATCH_SIZES}
    for _ in range(REPEATS):  # alternate, so a busy spell on the shared machine hits both
        t_ours = min(t_ours, best_seconds(lambda: embed_texts(texts, folder), 1))
        for bs in BATCH_SIZES:
            t_st[bs] = min(t_st[bs], best_seconds(lambda: encode(bs), 1))
    best_bs = min(t_st, key=t_st.get)

    tokens = sum(len(x) for x in st.tokenizer(texts, truncation=True, max_length=MAX_TOKENS)["input_ids"])
    print(f"{len(texts)} texts ({tokens:,} tokens after the {MAX_TOKENS}-token cut), all-MiniLM-L6-v2 in "
          f"{str(dtype).removeprefix('torch.')}, {torch.get_num_threads()} threads, normalised; best of {REPEATS}, "
          "alternating")
    print(f"sieve embed_texts          : {len(texts) / t_ours:7.1f} texts/s")
    print(f"st encode, batch_size 32   : {len(texts) / t_st[32]:7.1f} texts/s   sieve / encode = {t_st[32] / t_ours:.2f}x")
    print(f"st encode, best ({best_bs:>2})      : {len(texts) / t_st[best_bs]:7.1f} texts/s   "
          f"sieve / encode = {t_st[best_bs] / t_ours:.2f}x   (of batch sizes {', '.join(map(str, BATCH_SIZES))})")
    diff = np.abs(ours - theirs).max()
    cos = (ours * theirs).sum(1).min()
    print(f"largest vector difference to encode: {diff:.1e} (lowest cosine between the two {cos:.5f})")
    if dtype != torch.float32:  # how far each path's low precision moves the vectors
        ref = st.to(torch.float32).encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        print(f"against encode in float32: sieve {np.abs(ours - ref).max():.1e} (lowest cosine "
              f"{(ours * ref).sum(1).min():.5f}), encode in {str(dtype).removeprefix('torch.')} "
              f"{np.abs(theirs - ref).max():.1e} (lowest cosine {(theirs * ref).sum(1).min():.5f})")

    print(f"1-minute load average before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f} "
          f"(this bench's own threads count too; above its thread count, other work shared the cores)")


if __name__ == "__main__":
    main()
