"""Text folding and the prompt/response view of a conversation, as polars expressions."""

from __future__ import annotations

import polars as pl


_SPACE = r"[\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"


def fold(expr: pl.Expr, nfkc: bool = True) -> pl.Expr:
    """Fold only what cannot change meaning: Unicode compatibility forms, case and runs of whitespace.

    This is the key of every dedup decision (exact, same prompt, near, response reuse). Punctuation
    and symbols are kept: ``C++`` and ``C#``, ``12+3`` and ``12-3``, ``x<y`` and ``x>y`` are different rows.
    """
    if nfkc:
        expr = expr.str.normalize("NFKC")
    return expr.str.to_lowercase().str.replace_all(_SPACE, " ").str.strip_chars()


def fold_loose(expr: pl.Expr) -> pl.Expr:
    """:func:`fold`, then punctuation and symbols become spaces: the contamination key only.

    A training prompt that equals an eval prompt up to punctuation is a copy of it (a leak), and the
    match is reported with the eval id, so recall wins here; nothing is deduplicated on this key.
    """
    return fold(expr).str.replace_all(r"[\p{P}\p{S}]+", " ").str.replace_all(" +", " ").str.strip_chars()


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


def near_text() -> pl.Expr:
    """The text near-duplicate detection compares: folded prompt and response (column ``text``)."""
    return (pl.col("norm_prompt") + " " + pl.col("norm_response")).alias("text")
