"""Paired comparisons of learning-curve arms: bootstrap intervals, Holm's adjustment, length correlation.

Two arms at one size were evaluated on the same rows with the same seed indices, so their difference is
measured row by row and seed by seed (a paired comparison): row difficulty, the biggest source of spread,
cancels. The interval is a percentile bootstrap that resamples both eval rows and seeds, so it covers the
variation between training runs as well as the choice of eval rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Comparison:
    metric: str
    size: int
    arm: str
    other: str
    diff: float          # arm - other, in the metric's own units
    low: float
    high: float
    p: float             # two-sided bootstrap p-value
    better: str          # "lower" or "higher": which direction is good for this metric
    primary: bool = False
    p_holm: float | None = None

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    @property
    def favours(self) -> str | None:
        """The arm the interval favours, or ``None`` when it includes zero."""
        if not self.excludes_zero:
            return None
        arm_lower = self.high < 0
        return self.arm if arm_lower == (self.better == "lower") else self.other


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean over the last axis (rows) weighted by ``weights``, then over seeds (the first axis)."""
    return (values * weights).sum(axis=-1) / weights.sum(axis=-1)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None, resamples: int = 2000,
                     seed: int = 0) -> tuple[float, float, float, float]:
    """``a`` and ``b``: values of shape (seeds, rows) for two arms on the same rows and seed indices.
    ``weights`` (rows,): per-row weights (token counts for a token-weighted loss; ones by default).

    Returns (difference of the weighted means, 95% low, 95% high, two-sided p): rows and seeds are each
    resampled with replacement, the same draw for both arms."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"paired arrays must both be (seeds, rows); got {a.shape} and {b.shape}")
    w = np.ones(a.shape[1]) if weights is None else np.asarray(weights, float)
    d = a - b
    observed = float(np.mean((d * w).sum(axis=1) / w.sum()))
    rng = np.random.default_rng(seed)
    k, n = d.shape
    stats = np.empty(resamples)
    for i in range(resamples):
        seeds = rng.integers(0, k, k)
        rows = rng.integers(0, n, n)
        ww = w[rows]
        stats[i] = np.mean((d[np.ix_(seeds, rows)] * ww).sum(axis=1) / max(ww.sum(), 1e-12))
    low, high = np.percentile(stats, [2.5, 97.5])
    p = min(1.0, 2 * min(float(np.mean(stats <= 0)), float(np.mean(stats >= 0))))
    return observed, float(low), float(high), max(p, 1.0 / resamples)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given): controls the chance of any false
    'significant' among the family, without assuming the tests are independent."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def pearson(x: list[float], y: list[float]) -> float | None:
    """Pearson's r, or ``None`` with fewer than three points or no spread."""
    if len(x) < 3 or len(x) != len(y):
        return None
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    if xa.std() == 0 or ya.std() == 0:
        return None
    return float(np.corrcoef(xa, ya)[0, 1])


def t_interval(values: list[float]) -> float | None:
    """Half-width of a 95% t-interval of the mean over seeds; ``None`` for a single value."""
    if len(values) < 2:
        return None
    from scipy.stats import t

    return float(t.ppf(0.975, len(values) - 1)) * float(np.std(values, ddof=1)) / math.sqrt(len(values))
