"""The local engine's stages cut into per-row passes, for engines that never hold every row at once.

An engine that works on parts of the data (Ray blocks, chunks spilled to disk) runs three passes over
each part and decides what needs the whole data set between them, from compact columns:

1. :func:`signals_pass` (per row): views, exact-dedup keys, every signal and the contamination check,
   and the MinHash signature and LSH band keys (:func:`minhash`);
2. whole data: clusters from the keys (:func:`curate.dedup_exact.clusters_from_keys`), expected
   languages, near-duplicate candidate groups;
3. :func:`rules_pass` (per row): the whole-data columns joined in, then reasons and quality;
4. whole data: the kept member of every cluster (:func:`curate.rules.pick_representatives` on
   :data:`REPRESENTATIVE_COLUMNS` and the texts of near-duplicate candidates only);
5. :func:`verdicts_pass` (per row): each row's dedup reasons joined in, then its verdict.

Every function here calls the in-memory engine's own code, so the verdicts are that engine's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from curate.dedup_exact import exact_keys
from curate.expected_lang import with_expected_languages
from curate.rules import NearTexts, apply_rules, pick_representatives, verdicts
from curate.text import near_text, with_views
from schemas.config import CurateConfig

# what the kept-member walk needs of every row (plus the near-dedup texts of candidate rows)
REPRESENTATIVE_COLUMNS = ["row_idx", "quality", "exact_cluster", "near_cluster", "near_similarity", "prompt_cluster"]
KEY_COLUMNS = [e.meta.output_name() for e in exact_keys()]


@dataclass(frozen=True)
class Lsh:
    """MinHash permutations and the LSH banding of :class:`schemas.config.DedupConfig`."""

    perms: np.ndarray
    bands: int
    rows_per_band: int

    @classmethod
    def of(cls, cfg: CurateConfig) -> Lsh:
        from curate.dedup_near import datasketch_permutations, lsh_params

        d = cfg.dedup
        bands, rows_per_band = lsh_params(d.lsh_threshold, d.num_perm)
        return cls(datasketch_permutations(d.num_perm, d.seed), bands, rows_per_band)


def minhash(frame: pl.DataFrame, cfg: CurateConfig, lsh: Lsh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of a frame with views: MinHash signature (rows x num_perm, uint32), LSH band keys
    (rows x bands, uint64) and whether it has any shingle (rows without one are never candidates)."""
    from curate.dedup_near import band_keys, signatures

    d = cfg.dedup
    texts = [t[: d.max_chars] for t in frame.select(near_text())["text"].to_list()]
    sig = np.empty((len(texts), d.num_perm), dtype=np.uint32)
    for start in range(0, len(texts), d.chunk_rows):  # the kernel's token arrays: dedup.chunk_rows at a time
        sig[start:start + d.chunk_rows] = signatures(texts[start:start + d.chunk_rows], d, lsh.perms)
    return sig, band_keys(sig, lsh.bands, lsh.rows_per_band), (sig != np.iinfo(np.uint32).max).any(axis=1)


def signals_pass(frame: pl.DataFrame, cfg: CurateConfig, evals: pl.DataFrame | None,
                 rows_at_once: int = 200_000) -> pl.DataFrame:
    """Pass 1 over ingested rows (global ``row_idx`` and ``id`` set): views, signals, contamination,
    and the exact-dedup keys (:data:`KEY_COLUMNS`). The signals' list-valued intermediates (words,
    n-grams) are built ``rows_at_once`` rows at a time: fewer bound the memory, more are no faster."""
    from curate.pipeline import row_signals

    frame = with_views(frame)
    keys = frame.select(exact_keys())
    return pl.concat([row_signals(frame, cfg, evals, lambda n: None, rows_at_once), keys], how="horizontal")


def rules_pass(frame: pl.DataFrame, whole: pl.DataFrame, cfg: CurateConfig,
               expected: dict[str, list[str]]) -> pl.DataFrame:
    """Pass 2: the whole-data columns of these rows (``whole``, by ``row_idx``: ``exact_cluster``,
    ``prompt_cluster``, ``response_reuse``, ``near_cluster``, ``near_similarity``) joined in, languages
    expected per file, then reasons and quality. Drops the exact-dedup keys."""
    frame = frame.drop(KEY_COLUMNS, strict=False).join(whole, on="row_idx", how="left", maintain_order="left")
    return apply_rules(with_expected_languages(frame, cfg.signals, expected), cfg)


def representatives(small: pl.DataFrame, cfg: CurateConfig, near: NearTexts | None = None) -> pl.DataFrame:
    """Whole data: each row's dedup reasons (``_dedup``) and clusters, from :data:`REPRESENTATIVE_COLUMNS`
    of every row plus ``norm_prompt`` / ``norm_response`` (needed for near-duplicate candidates only),
    or with the candidates' texts from ``near``."""
    reps = pick_representatives(small.with_columns(reasons=pl.lit([], pl.List(pl.String))), cfg, near)
    return reps.select("row_idx", "near_cluster", "near_similarity", "semantic_kept", "semantic_similarity",
                       "dup_cluster", _dedup="reasons")


def representative_columns(frame: pl.DataFrame, texts: bool = True) -> pl.DataFrame:
    """The columns :func:`representatives` needs of a part (texts only where a row is a near candidate)."""
    if not texts:
        return frame.select(REPRESENTATIVE_COLUMNS)
    near = pl.col("near_cluster").is_not_null()
    return frame.select(*REPRESENTATIVE_COLUMNS, norm_prompt=pl.when(near).then("norm_prompt").otherwise(pl.lit("")),
                        norm_response=pl.when(near).then("norm_response").otherwise(pl.lit("")))


def verdicts_pass(frame: pl.DataFrame, dedup: pl.DataFrame, cfg: CurateConfig, columns: list[str]) -> pl.DataFrame:
    """Pass 3: each row's dedup reasons and clusters (``dedup`` of :func:`representatives`, by ``row_idx``)
    joined in, then its verdict, in the in-memory engine's column order ``columns``."""
    frame = frame.drop("near_cluster", "near_similarity").join(dedup, on="row_idx", how="left", maintain_order="left")
    frame = frame.with_columns(reasons=pl.concat_list("reasons", "_dedup")).drop("_dedup")
    return verdicts(frame, cfg).select(columns)
