"""Semantic duplicates: rows that say the same thing in other words (SemDedup), on MiniLM embeddings.

Neighbours are found by exact cosine similarity in blocks (a matrix product per block of rows, top
``k`` per row above the threshold), which is exact and fast enough for hundreds of thousands of rows on
one machine. Prompts and responses are embedded apart: a duplicate asks nearly the same and gets the same answer.
Verdicts follow the kept-member rule of the near-duplicate stage: rows are walked in quality order and
a row is a semantic duplicate only of a row that is kept; no chaining.
"""

from __future__ import annotations

import numpy as np


def neighbours(emb: np.ndarray, threshold: float, k: int = 16, block: int = 1024) -> list[list[tuple[int, float]]]:
    """For each row of the normalised ``emb``: up to ``k`` other rows with cosine >= ``threshold``,
    most similar first."""
    n = len(emb)
    out: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    for start in range(0, n, block):
        sims = emb[start:start + block] @ emb.T
        for r in range(sims.shape[0]):
            i = start + r
            row = sims[r]
            row[i] = -1.0
            hits = np.flatnonzero(row >= threshold)
            if hits.size:
                top = hits[np.argsort(-row[hits], kind="stable")[:k]]
                out[i] = [(int(j), float(row[j])) for j in top]
    return out


def assign_semantic(prompts: np.ndarray, responses: np.ndarray, prompt_threshold: float,
                    response_threshold: float, k: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Rows given in quality order (best first), with normalised prompt and response embeddings: per row,
    the position of the kept row it duplicates (-1: kept) and the responses' cosine (0 for kept rows).

    A duplicate asks nearly the same (prompt cosine >= ``prompt_threshold``) and gets the same answer
    (response cosine >= ``response_threshold``): paraphrased requests with one answer meet; requests worded
    alike with different answers do not."""
    n = len(prompts)
    kept_of = np.full(n, -1, dtype=np.int64)
    sim = np.zeros(n, dtype=np.float32)
    kept = np.zeros(n, dtype=bool)
    for i, near in enumerate(neighbours(prompts, prompt_threshold, k)):
        best = None
        for j, _ in near:
            if j < i and kept[j]:
                s = float(responses[i] @ responses[j])
                if s >= response_threshold and (best is None or s > best[1]):
                    best = (j, s)
        if best is None:
            kept[i] = True
        else:
            kept_of[i], sim[i] = best
    return kept_of, sim
