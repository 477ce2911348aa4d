"""Packaged pattern lists (``curate/patterns/*.txt``): one regular expression per line."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def pattern_body(name: str) -> str:
    """The lines of ``name``.txt as one alternation, without flags (comments and blank lines skipped)."""
    text = resources.files("curate").joinpath("patterns", f"{name}.txt").read_text(encoding="utf-8")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return "|".join(f"(?:{ln})" for ln in lines)


@cache
def pattern(name: str) -> str:
    """The patterns of ``name``.txt combined into one case-insensitive regex (multi-line anchors)."""
    return f"(?im)(?:{pattern_body(name)})"
