"""The curated arm's curve shape: a power-law fit of reference loss against examples, with each
parameter's uncertainty, and where the curve flattens."""

from __future__ import annotations


def fit_power_law(sizes: list[int], losses: list[float], min_sizes: int = 4) -> tuple[dict | None, str]:
    """Fit loss(n) = a * n^-b + c on n > 0: (fit, note). The fit holds each parameter's standard error
    (``a_se``, ``b_se``, ``c_se``, from the fit's covariance); it is ``None``, with a note saying why, when
    there are fewer than ``min_sizes`` sizes or the fit does not converge."""
    import warnings

    import numpy as np
    from scipy.optimize import OptimizeWarning, curve_fit

    pts = [(n, y) for n, y in zip(sizes, losses) if n > 0]
    if len(pts) < max(min_sizes, 4):
        return None, (f"no power-law fit: it needs at least {max(min_sizes, 4)} sizes (three parameters and one "
                      f"degree of freedom for its uncertainty), this curve has {len(pts)}")
    n, y = np.array([p[0] for p in pts], float), np.array([p[1] for p in pts], float)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            # Bounded: a loss floor c >= 0 and an exponent in [0.05, 2], else few points fit a degenerate line.
            (a, b, c), cov = curve_fit(lambda x, a, b, c: a * np.power(x, -b) + c, n, y,
                                       p0=(max(y[0] - y[-1], 1e-3) * n[0] ** 0.5, 0.5, y[-1] * 0.9),
                                       bounds=([0.0, 0.05, 0.0], [np.inf, 2.0, np.inf]), maxfev=20000)
    except (RuntimeError, ValueError):
        return None, "no power-law fit: it did not converge"
    se = [float(v) if np.isfinite(v) else None for v in np.sqrt(np.abs(np.diag(cov)))]
    fit = {"a": float(a), "b": float(b), "c": float(c), "a_se": se[0], "b_se": se[1], "c_se": se[2]}
    if any(v is None for v in se):
        return fit, "power-law fit without an uncertainty estimate (the covariance could not be estimated)"
    return fit, f"power-law fit on {len(pts)} sizes"


def predict(fit: dict, n: float) -> float:
    return fit["a"] * n ** -fit["b"] + fit["c"]


def knee(base: float, sizes: list[int], losses: list[float], share: float = 0.95) -> int | None:
    """Fewest examples (linear interpolation between measured sizes) reaching ``share`` of the gain the
    largest size achieved over the base model."""
    gain = base - losses[-1]
    if gain <= 0:
        return None
    target = base - share * gain
    prev_n, prev_y = 0, base
    for n, y in zip(sizes, losses):
        if y <= target:
            return int(round(prev_n + (n - prev_n) * (prev_y - target) / max(prev_y - y, 1e-12)))
        prev_n, prev_y = n, y
    return sizes[-1]
