"""Benchmark corpora built from the real Alpaca 52k file (nothing here is committed data).

``perturbed_corpus``: the 52k rows repeated until ``n`` rows, every copy after the first with about
``share`` of the words of its instruction and output replaced by other words of the corpus (a
word-level near duplicate). ``inject_duplicates``: the 52k rows plus known exact and near copies, for
precision and recall.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ALPACA = DATA / "alpaca_52k" / "alpaca_data_52k.jsonl"


def load_alpaca() -> list[dict]:
    with open(ALPACA, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def perturb(text: str, share: float, rng: random.Random, vocab: list[str]) -> str:
    words = text.split(" ")
    k = max(1, round(share * len(words))) if len(words) > 1 else 0
    for i in rng.sample(range(len(words)), k):
        words[i] = rng.choice(vocab)
    return " ".join(words)


def _vocab(rows: list[dict], rng: random.Random) -> list[str]:
    words = [w for r in rng.sample(rows, 2000) for w in r["output"].split()]
    return sorted(set(words))


def perturbed_corpus(n: int, path: Path, share: float = 0.05, seed: int = 0) -> Path:
    rows = load_alpaca()
    rng = random.Random(seed)
    vocab = _vocab(rows, rng)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            r = rows[i % len(rows)]
            if i >= len(rows):
                r = {"instruction": perturb(r["instruction"], share, rng, vocab), "input": r["input"],
                     "output": perturb(r["output"], share, rng, vocab)}
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def inject_duplicates(path: Path, n_near: int = 2000, n_exact: int = 500, share: float = 0.05,
                      seed: int = 1, min_words: int = 20) -> tuple[Path, list[tuple[int, int]]]:
    """Write the 52k rows plus copies; return the file and the (original, copy) row-index pairs."""
    rows = load_alpaca()
    rng = random.Random(seed)
    vocab = _vocab(rows, rng)
    long_rows = [i for i, r in enumerate(rows) if len((r["instruction"] + " " + r["output"]).split()) >= min_words]
    picks = rng.sample(long_rows, n_near + n_exact)
    out, pairs = list(rows), []
    for j, i in enumerate(picks):
        r = rows[i]
        if j < n_near:
            r = {"instruction": r["instruction"], "input": r["input"], "output": perturb(r["output"], share, rng, vocab)}
        pairs.append((i, len(out)))
        out.append(dict(r))
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in out)
    return path, pairs
