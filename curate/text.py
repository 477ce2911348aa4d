"""Text folding and the prompt/response view of a conversation, as polars expressions."""

from __future__ import annotations

import polars as pl


def fold(expr: pl.Expr, nfkc: bool = True) -> pl.Expr:
    """Fold case, Unicode compatibility forms, punctuation/symbols and whitespace, for dedup keys."""
    if nfkc:
        expr = expr.str.normalize("NFKC")
    return (
        expr.str.to_lowercase()
        .str.replace_all(r"[\p{P}\p{S}]+", " ")
        .str.replace_all(r"[\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+", " ")
        .str.strip_chars()
    )


def turns_of(role: str) -> pl.Expr:
    """The contents of all turns with ``role``, joined by a blank line ("" when there are none)."""
    return (
        pl.col("messages")
        .list.eval(pl.element().filter(pl.element().struct.field("role") == role).struct.field("content"))
        .list.join("\n\n")
        .fill_null("")
    )


def with_views(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``prompt`` (user turns), ``response`` (assistant turns), ``system``, ``n_turns`` and the
    folded ``norm_prompt`` / ``norm_response`` used by dedup and contamination."""
    frame = frame.with_columns(
        prompt=turns_of("user"), response=turns_of("assistant"), system=turns_of("system"),
        n_turns=pl.col("messages").list.len(),
    )
    return frame.with_columns(norm_prompt=fold(pl.col("prompt")), norm_response=fold(pl.col("response")))
