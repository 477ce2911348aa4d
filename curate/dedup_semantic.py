"""Semantic duplicates: rows that say the same thing in other words (SemDedup), on MiniLM embeddings.

Candidates are found by exact cosine similarity in blocks (a matrix product per block of rows), which
is exact and fast enough for hundreds of thousands of rows on one machine. Prompts and responses are embedded apart: a duplicate asks nearly the same and gets the same answer.
Verdicts follow the kept-member rule of the near-duplicate stage: rows are walked in quality order and
a row is a semantic duplicate only of a row that is kept; no chaining.
"""

from __future__ import annotations

import numpy as np


def assign_semantic(prompts: np.ndarray, responses: np.ndarray, prompt_threshold: float,
                    response_threshold: float, k: int = 16, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Rows given in quality order (best first), with normalised prompt and response embeddings: per row,
    the position of the kept row it duplicates (-1: kept) and the responses' cosine (0 for kept rows).

    A duplicate asks nearly the same (prompt cosine >= ``prompt_threshold``) and gets the same answer
    (response cosine >= ``response_threshold``): paraphrased requests with one answer meet; requests worded
    alike with different answers do not. Only kept, better rows are candidates (the ``k`` closest of
    them), so many similar prompts never crowd the real twin out."""
    n = len(prompts)
    kept_of = np.full(n, -1, dtype=np.int64)
    sim = np.zeros(n, dtype=np.float32)
    kept = np.zeros(n, dtype=bool)
    prompts = np.ascontiguousarray(prompts, dtype=np.float32)
    for start in range(0, n, block):
        sims = prompts[start:start + block] @ prompts[: start + block].T
        for r in range(sims.shape[0]):
            i = start + r
            row = sims[r, :i]
            cand = np.flatnonzero((row >= prompt_threshold) & kept[:i])
            best = None
            for j in cand[np.argsort(-row[cand], kind="stable")[:k]]:
                s = float(responses[i] @ responses[j])
                if s >= response_threshold and (best is None or s > best[1]):
                    best = (int(j), s)
            if best is None:
                kept[i] = True
            else:
                kept_of[i], sim[i] = best
    return kept_of, sim
