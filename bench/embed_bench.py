"""Embedding speed: Sieve's length-sorted batches against one text at a time and against fixed batches
in input order (what padding costs), all with all-MiniLM-L6-v2 on the same real Alpaca texts.

sentence-transformers' ``encode`` also sorts by length; it is not installed here (it needs scikit-learn),
so it is not measured. Vectors of all three paths agree to float32 precision (printed).

    python bench/embed_bench.py [TEXTS]      # default 512 prompt+response texts
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    import numpy as np
    import torch

    from curate.embeddings import MAX_TOKENS, _load, embed_texts, model_dir
    from schemas.config import ModelSignalsConfig

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    rows = [json.loads(x) for x in (DATA / "alpaca_52k" / "alpaca_data_52k.jsonl").read_text().splitlines()[:n]]
    texts = [f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in rows]
    folder = model_dir(ModelSignalsConfig().cache_dir)
    tok, model = _load(folder)
    embed_texts(texts[:16], folder)  # warm-up

    start = time.perf_counter()
    ours = embed_texts(texts, folder)
    t_ours = time.perf_counter() - start

    def pooled(batch: list[str]) -> np.ndarray:
        enc = tok(batch, truncation=True, max_length=MAX_TOKENS, padding=True, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=1).float().numpy()

    start = time.perf_counter()
    one = np.concatenate([pooled([t]) for t in texts])
    t_one = time.perf_counter() - start
    start = time.perf_counter()
    fixed = np.concatenate([pooled(texts[i:i + 32]) for i in range(0, len(texts), 32)])
    t_fixed = time.perf_counter() - start

    print(f"{len(texts)} texts, all-MiniLM-L6-v2 in {next(model.parameters()).dtype}, {torch.get_num_threads()} threads"
          " (all three paths in that precision)")
    print(f"sieve (length-sorted batches): {len(texts) / t_ours:7.1f} texts/s")
    print(f"one text at a time           : {len(texts) / t_one:7.1f} texts/s   sieve / this = {t_one / t_ours:.2f}x")
    print(f"batches of 32 in input order : {len(texts) / t_fixed:7.1f} texts/s   sieve / this = {t_fixed / t_ours:.2f}x")
    print(f"largest difference between the vectors: {max(abs(ours - one).max(), abs(ours - fixed).max()):.1e}")


if __name__ == "__main__":
    main()
