"""Numbers as the review pages show them: integers as integers with thousands separators, shares and
rates with the precision they carry, and "n/a" when a figure is undefined (never 0 or a blank, which
would read as a measurement). Plain functions."""

from __future__ import annotations

NA = "n/a"


def count(n: int) -> str:
    """``1260`` -> ``"1,260"``."""
    return f"{n:,}"


def rows(n: int) -> str:
    """``1`` -> ``"1 row"``, ``1260`` -> ``"1,260 rows"``."""
    return f"{n:,} row{'' if n == 1 else 's'}"


def share(x: float | None) -> str:
    """A proportion as a percentage with one decimal (``0.8333`` -> ``"83.3%"``); None -> ``"n/a"``."""
    return NA if x is None else f"{x:.1%}"


def kappa(x: float | None) -> str:
    """Cohen's kappa with two decimals, the precision it is read at (``"0.62"``); None -> ``"n/a"``."""
    return NA if x is None else f"{x:.2f}"


def per_hour(x: float | None) -> str:
    """A rate per hour as a whole number (``1260.0`` -> ``"1,260"``); None -> ``"n/a"``."""
    return NA if x is None else f"{x:,.0f}"


def duration(seconds: float | None) -> str:
    """``7.25`` -> ``"7.2 s"``, ``65`` -> ``"1 min 05 s"``; None -> ``"n/a"``. Tenths under 10 s, where
    they still mean something for a time per row; whole seconds above."""
    if seconds is None:
        return NA
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"
