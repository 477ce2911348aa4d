"""Exact duplicate clusters on folded text: prompt+response pairs, and prompts alone.

Only cluster ids are assigned here. Which member of a cluster is kept (the best quality score, ties
broken by first seen) is decided in :mod:`curate.rules`, once quality is known. Every decision is
made on 64-bit hashes of the folded texts (a collision among ten million rows has odds near 1e-6).
"""

from __future__ import annotations

import polars as pl


def cluster_ids(key: pl.Expr) -> pl.Expr:
    """Dense cluster id for rows sharing ``key``; null for rows whose key is unique."""
    return pl.when(key.count().over(key) > 1).then(key.rank("dense").cast(pl.Int64)).otherwise(None)


def exact_keys() -> list[pl.Expr]:
    """Compact per-row keys of the exact-dedup decisions (64-bit hashes of the folded texts and two
    flags): all :func:`clusters_from_keys` needs, so an engine that holds rows in many places can
    gather these columns alone. Needs the ``norm_prompt`` / ``norm_response`` columns."""
    return [(pl.col("norm_prompt") + "\x1f" + pl.col("norm_response")).hash().alias("pair_key"),
            pl.col("norm_prompt").hash().alias("prompt_key"), pl.col("norm_response").hash().alias("response_key"),
            (pl.col("norm_prompt") != "").alias("has_prompt"), (pl.col("norm_response") != "").alias("has_response")]


def clusters_from_keys(keys: pl.DataFrame, same_prompt: bool = True) -> pl.DataFrame:
    """``exact_cluster``, ``prompt_cluster`` and ``response_reuse`` for every row of ``keys`` (the columns
    of :func:`exact_keys`, all rows of the data set), in its row order."""
    # rows with neither prompt nor response text (a system turn alone) share an empty key, not a text
    cols = [pl.when(pl.col("has_prompt") | pl.col("has_response")).then(cluster_ids(pl.col("pair_key")))
            .alias("exact_cluster")]
    if same_prompt:
        cols.append(pl.when(pl.col("has_prompt")).then(cluster_ids(pl.col("prompt_key"))).alias("prompt_cluster"))
    else:
        cols.append(pl.lit(None, pl.Int64).alias("prompt_cluster"))
    # How many different prompts received this exact (folded) response: a canned answer given to many
    # prompts (an identity blurb, a model's junk output) says nothing about any one of them.
    cols.append(pl.when(pl.col("has_response")).then(pl.col("prompt_key").n_unique().over("response_key"))
                .otherwise(0).alias("response_reuse"))
    return keys.select(cols)


def exact_clusters(frame: pl.DataFrame, same_prompt: bool = True) -> pl.DataFrame:
    """Add ``exact_cluster`` (same folded prompt and response), ``prompt_cluster`` (same folded
    prompt, non-empty) and ``response_reuse`` (distinct prompts answered with this same response).
    Needs the ``norm_prompt`` / ``norm_response`` columns."""
    return frame.with_columns(clusters_from_keys(frame.select(exact_keys()), same_prompt))
