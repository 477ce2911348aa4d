"""Compiled inner loops for MinHash (numba): rolling n-gram hashes and the per-row minimum over
permutations, fused so no (shingles x permutations) temporary is ever materialised.

The arithmetic is exactly datasketch's ``affine32`` scheme (uint32 wrap-around), so the signatures
equal ``datasketch.MinHash(scheme="affine32")`` fed the same 32-bit shingle hashes (tests check this).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_P = np.uint64(0x100000001B3)


@njit(cache=True, inline="always")
def _fmix64(h):
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


_M32 = np.uint64(0xFFFFFFFF)


@njit(cache=True, inline="always")
def _fmix32(h):
    # In uint64 with explicit masks: numba widens uint32 products instead of wrapping them.
    h = np.uint64(h)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & _M32
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & _M32
    h ^= h >> np.uint64(16)
    return h


@njit(cache=True)
def shingle_hashes_kernel(tokens, offsets, n):
    """32-bit hashes of all n-grams inside each text (texts shorter than n give none), and row ids."""
    rows = offsets.shape[0] - 1
    total = 0
    for r in range(rows):
        k = offsets[r + 1] - offsets[r] - n + 1
        if k > 0:
            total += k
    out = np.empty(total, dtype=np.uint32)
    row_of = np.empty(total, dtype=np.int64)
    j = 0
    for r in range(rows):
        s, e = offsets[r], offsets[r + 1]
        for i in range(s, e - n + 1):
            h = np.uint64(0)
            for t in range(n):
                h = h * _P + tokens[i + t]
            out[j] = np.uint32(_fmix64(h) & np.uint64(0xFFFFFFFF))
            row_of[j] = r
            j += 1
    return out, row_of


@njit(cache=True, parallel=True)
def signature_kernel(hv, starts, ends, a, b, sig, rows):
    """sig[rows[k], p] = min over hv[starts[k]:ends[k]] of a[p] * fmix32(h) + b[p] (uint32)."""
    num_perm = a.shape[0]
    for k in prange(starts.shape[0]):
        s, e = starts[k], ends[k]
        mixed = np.empty(e - s, dtype=np.uint64)
        for i in range(s, e):
            mixed[i - s] = _fmix32(hv[i])
        for p in range(num_perm):
            ap, bp = np.uint64(a[p]), np.uint64(b[p])
            m = _M32
            for i in range(e - s):
                v = (mixed[i] * ap + bp) & _M32
                if v < m:
                    m = v
            sig[rows[k], p] = np.uint32(m)
