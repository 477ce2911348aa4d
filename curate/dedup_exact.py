"""Exact duplicate clusters on folded text: prompt+response pairs, and prompts alone.

Only cluster ids are assigned here. Which member of a cluster is kept (the best quality score, ties
broken by first seen) is decided in :mod:`curate.rules`, once quality is known.
"""

from __future__ import annotations

import polars as pl


def cluster_ids(key: pl.Expr) -> pl.Expr:
    """Dense cluster id for rows sharing ``key``; null for rows whose key is unique."""
    return pl.when(key.count().over(key) > 1).then(key.rank("dense").cast(pl.Int64)).otherwise(None)


def exact_clusters(frame: pl.DataFrame, same_prompt: bool = True) -> pl.DataFrame:
    """Add ``exact_cluster`` (same folded prompt and response), ``prompt_cluster`` (same folded
    prompt, non-empty) and ``response_reuse`` (distinct prompts answered with this same response).
    Needs the ``norm_prompt`` / ``norm_response`` columns."""
    pair = pl.col("norm_prompt") + "\x1f" + pl.col("norm_response")
    cols = [cluster_ids(pair.hash()).alias("exact_cluster")]
    if same_prompt:
        has_prompt = pl.col("norm_prompt") != ""
        cols.append(pl.when(has_prompt).then(cluster_ids(pl.col("norm_prompt").hash())).alias("prompt_cluster"))
    else:
        cols.append(pl.lit(None, pl.Int64).alias("prompt_cluster"))
    # How many different prompts received this exact (folded) response: a canned answer given to many
    # prompts (an identity blurb, a model's junk output) says nothing about any one of them.
    cols.append(pl.when(pl.col("norm_response") != "").then(pl.col("norm_prompt").n_unique().over("norm_response"))
                .otherwise(0).alias("response_reuse"))
    return frame.with_columns(cols)
