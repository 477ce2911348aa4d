"""Structural checks as polars expressions over the ``messages`` column.

Mirrors :func:`schemas.checks.check_messages` (the per-record form used at the boundaries); a test runs
both over the real data sets and requires identical codes.
"""

from __future__ import annotations

import polars as pl

from schemas.checks import KNOWN_ROLES


def structure_flags() -> dict[str, pl.Expr]:
    """Reason code -> boolean expression."""
    roles = pl.col("messages").list.eval(pl.element().struct.field("role"))
    contents = pl.col("messages").list.eval(pl.element().struct.field("content").str.strip_chars().str.len_chars())
    prev_same = lambda role: roles.list.eval(  # noqa: E731
        ((pl.element() == role) & (pl.element().shift(1) == role)).any()).list.first()
    has_assistant = roles.list.contains("assistant")
    return {
        "structure.empty_content": contents.list.eval((pl.element() == 0).any()).list.first(),
        "structure.system_not_first": roles.list.slice(1).list.contains("system"),
        "structure.consecutive_user": prev_same("user"),
        "structure.consecutive_assistant": prev_same("assistant"),
        "structure.no_assistant": ~has_assistant,
        "structure.not_ending_with_assistant": has_assistant & (roles.list.last() != "assistant"),
        "structure.assistant_first": roles.list.eval(pl.element().filter(pl.element() != "system").first()
                                                     == "assistant").list.first().fill_null(False),
        "structure.unknown_role": roles.list.eval((~pl.element().is_in(sorted(KNOWN_ROLES))).any()).list.first(),
    }
