"""Compiled per-text loops (numba) for signals that polars expressions cannot state cheaply:
the longest run of one character (polars' regex engine has no back-references) and the share of
the most common word 3-gram (a per-text histogram)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def max_run_kernel(cps, offsets, spaces):
    """Longest run of one repeated code point per text, ignoring runs of whitespace."""
    n = offsets.shape[0] - 1
    out = np.zeros(n, dtype=np.int64)
    for r in prange(n):
        best, run = 0, 0
        prev = np.uint32(0xFFFFFFFF)
        for i in range(offsets[r], offsets[r + 1]):
            c = cps[i]
            is_space = False
            for s in spaces:
                if c == s:
                    is_space = True
            if is_space:
                run, prev = 0, np.uint32(0xFFFFFFFF)
                continue
            run = run + 1 if c == prev else 1
            prev = c
            if run > best:
                best = run
        out[r] = best
    return out


@njit(cache=True, parallel=True)
def top_trigram_share_kernel(word_hashes, offsets):
    """Per text: count of its most common word 3-gram / its number of 3-grams (0 below 3 words)."""
    n = offsets.shape[0] - 1
    out = np.zeros(n, dtype=np.float64)
    for r in prange(n):
        s, e = offsets[r], offsets[r + 1]
        k = e - s - 2
        if k <= 0:
            continue
        tri = np.empty(k, dtype=np.uint64)
        for i in range(k):
            h = word_hashes[s + i] * np.uint64(0x9E3779B97F4A7C15)
            h = (h ^ (h >> np.uint64(29))) + word_hashes[s + i + 1] * np.uint64(0xBF58476D1CE4E5B9)
            h = (h ^ (h >> np.uint64(31))) + word_hashes[s + i + 2] * np.uint64(0x94D049BB133111EB)
            tri[i] = h
        tri.sort()
        best, run = 1, 1
        for i in range(1, k):
            run = run + 1 if tri[i] == tri[i - 1] else 1
            if run > best:
                best = run
        out[r] = best / k
    return out
