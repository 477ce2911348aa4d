"""Rules: signals -> reason codes -> verdict, plus the composite quality score.

Every rule has a stable dotted code, the config setting that tunes it (``None`` switches it off) and a
one-line reason; ``sieve curate --explain`` prints this table. The verdict of a row is the most severe
action among its reasons (drop > review > keep); actions per code come from ``config.actions``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from curate.structure import structure_flags
from curate.scripts import weighted_chars
from curate.text import near_text
from schemas.checks import STRUCTURE_CODES
from schemas.config import CurateConfig

Cond = Callable[[CurateConfig], pl.Expr | None]


@dataclass(frozen=True)
class Rule:
    code: str
    setting: str | None
    why: str
    when: Cond | None  # None: assigned elsewhere (structure, dedup)


def _thr(name: str, build: Callable[[object], pl.Expr]) -> Cond:
    def cond(cfg: CurateConfig) -> pl.Expr | None:
        value = getattr(cfg.rules, name)
        if value is None:
            return None
        expr = build(value)
        if name in _SHARE_RULES:  # a share of a very short response says nothing
            expr = expr & (pl.col("response_chars") >= cfg.rules.min_chars_for_share_rules)
        return expr
    return cond


_SHARE_RULES = ("max_junk_share", "max_response_reuse")


def _langs(cfg: CurateConfig) -> pl.Expr:
    # expected_langs: pinned by signals.languages, else the row's file's own mix (curate.expected_lang);
    # _prompt_in_script / _response_in_script: the text holds an expected non-Latin script
    sure = cfg.signals.language_min_score
    off = lambda c: (pl.col(c).is_not_null() & ~pl.col("expected_langs").list.contains(pl.col(c))  # noqa: E731
                     & (pl.col(f"{c}_score") >= sure))
    # a translation prompt quotes one language and asks for another: neither side is unexpected
    response_off = (off("lang_response") & ~pl.col("_response_in_script")
                    & (pl.col("lang_response") != pl.col("lang_prompt")).fill_null(True))
    return ((off("lang_prompt") & ~pl.col("_prompt_in_script")) | response_off) & ~pl.col("translation_prompt")


def _mismatch(cfg: CurateConfig) -> pl.Expr:
    # _response_lang_in_prompt: the prompt itself holds text in the response's language (a Chinese
    # instruction about an English sentence, answered in English), see curate.expected_lang
    least = cfg.signals.mismatch_min_score
    sure = (pl.col("lang_prompt_score") >= least) & (pl.col("lang_response_score") >= least)
    return (sure & (pl.col("lang_prompt") != pl.col("lang_response")) & ~pl.col("translation_prompt")
            & ~pl.col("_response_lang_in_prompt"))


RULES: list[Rule] = [
    *(Rule(code, None, why, None) for code, why in STRUCTURE_CODES.items()),
    Rule("dedup.exact", "dedup.exact", "same prompt and response (folded) as a better row", None),
    Rule("dedup.same_prompt", "dedup.same_prompt", "same prompt as a better-scored row with another answer (review: both may be good)", None),
    Rule("dedup.near", "dedup.threshold", "near duplicate (MinHash, verified Jaccard) of a better row", None),
    Rule("dedup.semantic", "dedup.semantic_prompt_threshold",
         "asks the same as a better row in other words and gets the same answer (MiniLM; --semantic)", None),
    Rule("length.response_empty", None, "the response is empty or whitespace", lambda c: pl.col("response_empty")),
    Rule("length.response_too_short", "rules.min_response_chars", "the response is very short",
         lambda c: None if c.rules.min_response_chars is None else (
             ~pl.col("response_empty")
             & (weighted_chars(pl.col("response"), c.rules.cjk_char_weight) < c.rules.min_response_chars))),
    Rule("length.response_too_long", "rules.max_response_tokens", "the response is longer than training allows",
         _thr("max_response_tokens", lambda v: pl.col("response_tokens") > v)),
    Rule("length.prompt_too_long", "rules.max_prompt_tokens", "the prompt is longer than training allows",
         _thr("max_prompt_tokens", lambda v: pl.col("prompt_tokens") > v)),
    Rule("format.truncated", "rules.truncation_min_words", "the response looks cut off",
         lambda c: pl.col("truncated")),
    Rule("repetition.lines", "rules.max_dup_line_share", "the response repeats whole lines",
         _thr("max_dup_line_share", lambda v: pl.col("dup_line_share") > v)),
    Rule("repetition.ngrams", "rules.max_top_ngram_share", "one word 3-gram dominates the response",
         lambda c: None if c.rules.max_top_ngram_share is None else (
             (pl.col("response_words") >= c.rules.min_ngram_words)
             & (pl.col("top_ngram_share") > c.rules.max_top_ngram_share))),
    Rule("repetition.chars", "rules.max_char_run", "one character repeated many times",
         _thr("max_char_run", lambda v: pl.col("max_char_run") >= v)),
    Rule("language.unexpected", "signals.languages", "prompt or response is not in an expected language", _langs),
    Rule("language.mismatch", "signals.mismatch_min_score",
         "prompt and response are confidently in different languages (not for translation prompts)", _mismatch),
    Rule("readability.low", "rules.min_readability", "the response is very hard to read",
         _thr("min_readability", lambda v: pl.col("readability") < v)),
    Rule("content.refusal", None, "refusal or AI boilerplate in the response", lambda c: pl.col("refusal")),
    Rule("content.placeholder_prompt", None, "unfilled placeholder (e.g. <noinput>) in the prompt",
         lambda c: pl.col("placeholder_prompt")),
    Rule("content.placeholder_response", None, "unfilled placeholder in the response",
         lambda c: pl.col("placeholder_response")),
    Rule("content.external_reference", None, "the prompt needs a URL or attachment the model cannot see",
         lambda c: pl.col("external_reference")),
    Rule("content.echo", "rules.max_echo_similarity", "the response repeats the prompt",
         _thr("max_echo_similarity", lambda v: pl.col("echo_similarity") >= v)),
    Rule("content.repeated_response", "rules.max_response_reuse",
         "the same response answers many different prompts (canned or junk output)",
         _thr("max_response_reuse", lambda v: pl.col("response_reuse") > v)),
    Rule("content.junk", "rules.max_junk_share",
         "the response is mostly symbols (responses of 20+ chars; not when the prompt asks for code or a formula)",
         _thr("max_junk_share", lambda v: (pl.col("junk_share") > v) & ~pl.col("code_prompt"))),
    Rule("pii.email", None, "an e-mail address", lambda c: pl.col("pii_email")),
    Rule("pii.phone", None, "a phone number", lambda c: pl.col("pii_phone")),
    Rule("pii.ip", None, "an IP address", lambda c: pl.col("pii_ip")),
    Rule("pii.card", None, "a payment card number shape", lambda c: pl.col("pii_card")),
    Rule("contamination.eval", "--eval", "the prompt matches or overlaps an eval-set prompt",
         lambda c: pl.col("contamination_eval_id").is_not_null()),
    Rule("model.ifd_high", "model_signals.max_ifd",
         "the prompt does not help a language model predict the response (IFD; --model-signals)",
         lambda c: _model_rule(c, "ifd", c.model_signals.max_ifd, ">=")),
    Rule("model.ppl_high", "model_signals.max_ppl", "a language model finds the response very surprising "
         "(perplexity; --model-signals)", lambda c: _model_rule(c, "ppl_response", c.model_signals.max_ppl, ">")),
]


def _model_rule(cfg: CurateConfig, col: str, limit: float | None, op: str) -> pl.Expr | None:
    """A model-signal threshold, judged only on responses in ``model_signals.languages``."""
    ms = cfg.model_signals
    if not ms.enabled or limit is None:
        return None
    over = pl.col(col) >= limit if op == ">=" else pl.col(col) > limit
    judged = (pl.col("lang_response").is_null() | pl.col("lang_response").is_in(ms.languages)) if ms.languages \
        else pl.lit(True)
    return over & judged

SEVERITY = {"keep": 0, "review": 1, "drop": 2}


def quality_expr(cfg: CurateConfig) -> pl.Expr:
    """Composite quality in [0, 1], independent of duplicates (it decides which duplicate is kept).

    A base score rewards substantive answers (length, saturating at ``quality.saturate_words``) without
    repetition, symbols or off-language text; penalties then scale it down for defects that make a row
    useless (empty, refusal, placeholder, echo, one canned answer for many prompts) or doubtful
    (truncated, structure problems). Weights and penalties: :class:`schemas.config.QualityConfig`.
    """
    q = cfg.quality
    length = (pl.col("response_words").cast(pl.Float64).log1p() / pl.lit(float(q.saturate_words)).log1p()).clip(0, 1)
    base = (q.w_length * length
            + q.w_ngram * (1 - (pl.col("top_ngram_share") * 2).clip(0, 1))
            + q.w_dup_lines * (1 - pl.col("dup_line_share").clip(0, 1))
            + q.w_junk * (1 - (pl.col("junk_share") * 4).clip(0, 1))
            + q.w_language * pl.col("lang_ok").cast(pl.Float64))
    reuse = cfg.rules.max_response_reuse
    reused = pl.lit(False) if reuse is None else pl.col("response_reuse") > reuse
    penalty = (pl.when(pl.col("response_empty")).then(0.0).otherwise(1.0)
               * pl.when(pl.col("refusal") | pl.col("placeholder_response") | (pl.col("echo_similarity") >= 1))
               .then(q.penalty_useless).otherwise(1.0)
               * pl.when(pl.col("truncated")).then(q.penalty_truncated).otherwise(1.0)
               * pl.when(reused).then(q.penalty_reused).otherwise(1.0)
               * pl.when(pl.col("structure_bad")).then(q.penalty_structure).otherwise(1.0))
    return (base * penalty).fill_nan(0.0).fill_null(0.0).clip(0, 1)


def apply_rules(frame: pl.DataFrame, cfg: CurateConfig) -> pl.DataFrame:
    """Add ``reasons`` (without dedup codes), ``quality`` and helper columns to a frame with signals."""
    from curate.expected_lang import expected_candidates, in_expected_script, response_lang_in_prompt

    langs, least = expected_candidates(frame), cfg.signals.script_min_chars
    frame = frame.with_columns(_prompt_in_script=in_expected_script("prompt", langs, least),
                               _response_in_script=in_expected_script("response", langs, least),
                               _response_lang_in_prompt=response_lang_in_prompt(least))
    structure = structure_flags()
    flags = dict(structure)
    for rule in RULES:
        if rule.when is not None:
            expr = rule.when(cfg)
            if expr is not None:
                flags[rule.code] = expr
    frame = frame.with_columns(
        lang_ok=pl.col("lang_response").is_null() | pl.col("expected_langs").list.contains(pl.col("lang_response"))
        | pl.col("translation_prompt"),
        structure_bad=pl.any_horizontal(list(structure.values())),
    )
    reasons = pl.concat_list([pl.when(e.fill_null(False)).then(pl.lit(code)).otherwise(pl.lit(None, pl.String))
                              for code, e in flags.items()]).list.drop_nulls()
    return frame.with_columns(reasons=reasons, quality=quality_expr(cfg)).drop(
        "_prompt_in_script", "_response_in_script", "_response_lang_in_prompt")


class NearTexts(Protocol):
    """Where the near-duplicate walk finds candidate texts when the frame does not hold them (a streamed run)."""

    def pieces(self, cand: pl.DataFrame) -> Iterator[tuple[pl.DataFrame, list[str]]]:
        """``cand`` (rows in quality order, with ``row_idx`` and ``near_cluster``) cut into parts that each
        hold whole groups, in the same order within each, with every row's :func:`curate.text.near_text`."""
        ...


def pick_representatives(frame: pl.DataFrame, cfg: CurateConfig, near: NearTexts | None = None) -> pl.DataFrame:
    """Add dedup reason codes to every cluster member but the best (quality, then first seen).

    Order: exact clusters first; their representatives then compete in near-duplicate groups (a row is
    a near duplicate only of a kept row it really resembles, see :func:`curate.dedup_near.assign_near`);
    the survivors compete in same-prompt clusters. ``dup_cluster`` names the cluster a row lost in, or
    the widest one it heads.
    """
    ranked = frame.sort(["quality", "row_idx"], descending=[True, False]).with_columns(_alive=pl.lit(True))
    codes = []
    for col, code, enabled in [("exact_cluster", "dedup.exact", cfg.dedup.exact),
                               ("near_cluster", "dedup.near", cfg.dedup.near),
                               ("semantic_kept", "dedup.semantic", cfg.dedup.semantic and "embedding" in frame.columns),
                               ("prompt_cluster", "dedup.same_prompt", cfg.dedup.same_prompt)]:
        if not enabled:
            continue
        if code == "dedup.near":
            ranked = _near_losers(ranked, cfg, near)
        elif code == "dedup.semantic":
            ranked = _semantic_losers(ranked, cfg)
        else:
            # the first alive row of each cluster (in quality order) is its representative
            first_alive = pl.col("row_idx").filter(pl.col("_alive")).first().over(col)
            loser = pl.col(col).is_not_null() & pl.col("_alive") & (pl.col("row_idx") != first_alive)
            ranked = ranked.with_columns(**{f"_{code}": loser})
        ranked = ranked.with_columns(_alive=pl.col("_alive") & ~pl.col(f"_{code}"))
        codes.append(code)
    dedup_reasons = pl.concat_list([pl.when(pl.col(f"_{c}")).then(pl.lit(c)).otherwise(pl.lit(None, pl.String))
                                    for c in codes]).list.drop_nulls() if codes else pl.lit([], pl.List(pl.String))
    labels = {"dedup.exact": pl.format("exact-{}", pl.col("exact_cluster")),
              "dedup.near": pl.format("near-{}", pl.col("near_cluster")),
              "dedup.semantic": pl.format("semantic-{}", pl.col("semantic_kept")),
              "dedup.same_prompt": pl.format("prompt-{}", pl.col("prompt_cluster"))}
    # A row that lost names the cluster it lost in; a representative names the widest cluster it heads.
    cluster = pl.coalesce(*[pl.when(pl.col(f"_{c}")).then(labels[c]) for c in codes],
                          labels["dedup.near"], labels["dedup.exact"], labels["dedup.same_prompt"])
    if "semantic_kept" not in ranked.columns:
        ranked = ranked.with_columns(semantic_kept=pl.lit(None, pl.Int64), semantic_similarity=pl.lit(None, pl.Float32))
    ranked = ranked.with_columns(reasons=pl.concat_list("reasons", dedup_reasons), dup_cluster=cluster)
    return ranked.drop([c for c in ranked.columns if c.startswith("_")]).sort("row_idx")


def _semantic_losers(ranked: pl.DataFrame, cfg: CurateConfig) -> pl.DataFrame:
    """``_dedup.semantic`` for alive rows (in quality order) whose embedding is within the threshold of a
    kept row's; ``semantic_kept`` names that row (``row_idx``) and ``semantic_similarity`` the cosine."""
    import numpy as np

    from curate.dedup_semantic import assign_semantic

    alive = ranked.filter("_alive")
    if alive.height == 0:
        return ranked.with_columns(**{"_dedup.semantic": pl.lit(False)}, semantic_kept=pl.lit(None, pl.Int64),
                                   semantic_similarity=pl.lit(None, pl.Float32))
    vecs = {c: np.asarray(alive[c].to_numpy(), dtype=np.float32).reshape(alive.height, -1)
            for c in ("embedding_prompt", "embedding_response")}
    d = cfg.dedup
    kept_of, sim = assign_semantic(vecs["embedding_prompt"], vecs["embedding_response"], d.semantic_prompt_threshold,
                                   d.semantic_response_threshold, d.semantic_neighbours)
    idx = alive["row_idx"].to_numpy()
    lost = kept_of >= 0
    table = pl.DataFrame({"row_idx": idx, "_dedup.semantic": lost, "semantic_kept": np.where(lost, idx[kept_of], -1),
                          "semantic_similarity": sim}).with_columns(
        semantic_kept=pl.when("_dedup.semantic").then("semantic_kept"),
        semantic_similarity=pl.when("_dedup.semantic").then(pl.col("semantic_similarity")))
    return ranked.join(table, on="row_idx", how="left", maintain_order="left").with_columns(
        pl.col("_dedup.semantic").fill_null(False))


def _near_losers(ranked: pl.DataFrame, cfg: CurateConfig, near: NearTexts | None = None) -> pl.DataFrame:
    """``_dedup.near`` for alive rows (in quality order) that duplicate a kept row of their candidate group;
    ``near_cluster`` becomes the kept row's ``row_idx`` for it and its duplicates (null elsewhere) and
    ``near_similarity`` each duplicate's exact Jaccard with it. Texts come from the frame, or part by part
    from ``near`` (groups are independent: the walk gives the same answer either way)."""
    from curate.dedup_near import assign_near

    cand = ranked.filter(pl.col("_alive") & pl.col("near_cluster").is_not_null())
    pieces = near.pieces(cand) if near is not None else [(cand, cand.select(near_text())["text"].to_list())]
    found = [pl.DataFrame(schema={"row_idx": pl.Int64, "_dedup.near": pl.Boolean, "_kept": pl.Int64, "_s": pl.Float32})]
    for part, texts in pieces:
        kept_of, sim = assign_near(part["near_cluster"].to_numpy(), texts, cfg.dedup)
        idx = part["row_idx"].to_numpy()
        found.append(pl.DataFrame({"row_idx": idx, "_dedup.near": kept_of >= 0, "_kept": idx[kept_of], "_s": sim},
                                  schema=found[0].schema))
    dupes = pl.concat(found).select(
        "row_idx", "_dedup.near", _group=pl.when("_dedup.near").then("_kept"), _sim=pl.when("_dedup.near").then("_s"))
    heads = dupes.filter("_dedup.near").select(row_idx="_group").unique().with_columns(_head=pl.lit(True))
    ranked = (ranked.drop("near_cluster", "near_similarity")
              .join(dupes, on="row_idx", how="left", maintain_order="left")
              .join(heads, on="row_idx", how="left", maintain_order="left"))
    return ranked.with_columns(
        pl.col("_dedup.near").fill_null(False),
        near_cluster=pl.when(pl.col("_head")).then(pl.col("row_idx")).otherwise(pl.col("_group")),
        near_similarity=pl.col("_sim").cast(pl.Float32)).drop("_group", "_sim", "_head")


def verdicts(frame: pl.DataFrame, cfg: CurateConfig) -> pl.DataFrame:
    """Add ``verdict``: the most severe action among a row's reasons (keep when it has none)."""
    by_action = {a: [c for c, act in cfg.actions.items() if act == a] for a in ("drop", "review")}
    has = lambda codes: pl.col("reasons").list.set_intersection(pl.lit(codes, pl.List(pl.String))).list.len() > 0  # noqa: E731
    return frame.with_columns(
        verdict=pl.when(has(by_action["drop"])).then(pl.lit("drop"))
        .when(has(by_action["review"])).then(pl.lit("review")).otherwise(pl.lit("keep")))
