"""Rules: signals -> reason codes -> verdict, plus the composite quality score.

Every rule has a stable dotted code, the config setting that tunes it (``None`` switches it off) and a
one-line reason; ``sieve curate --explain`` prints this table. The verdict of a row is the most severe
action among its reasons (drop > review > keep); actions per code come from ``config.actions``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from curate.structure import structure_flags
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
        return None if value is None else build(value)
    return cond


def _langs(cfg: CurateConfig) -> pl.Expr | None:
    expected, sure = cfg.signals.languages, cfg.signals.language_min_score
    if not expected:
        return None
    off = lambda c: (pl.col(c).is_not_null() & ~pl.col(c).is_in(expected)  # noqa: E731
                     & (pl.col(f"{c}_score") >= sure))
    return off("lang_prompt") | off("lang_response")


def _mismatch(cfg: CurateConfig) -> pl.Expr:
    sure = (pl.col("lang_prompt_score") >= 0.8) & (pl.col("lang_response_score") >= 0.8)
    return sure & (pl.col("lang_prompt") != pl.col("lang_response"))


RULES: list[Rule] = [
    *(Rule(code, None, why, None) for code, why in STRUCTURE_CODES.items()),
    Rule("dedup.exact", "dedup.exact", "same prompt and response (folded) as a better row", None),
    Rule("dedup.same_prompt", "dedup.same_prompt", "same prompt as a better-scored row with another answer", None),
    Rule("dedup.near", "dedup.threshold", "near duplicate (MinHash, verified Jaccard) of a better row", None),
    Rule("length.response_empty", None, "the response is empty or whitespace", lambda c: pl.col("response_empty")),
    Rule("length.response_too_short", "rules.min_response_chars", "the response is very short",
         _thr("min_response_chars", lambda v: ~pl.col("response_empty") & (pl.col("response_chars") < v))),
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
    Rule("language.mismatch", None, "prompt and response are confidently in different languages", _mismatch),
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
         _thr("max_response_reuse", lambda v: (pl.col("response_reuse") > v) & (pl.col("response_chars") >= 20))),
    Rule("content.junk", "rules.max_junk_share", "the response is mostly symbols (responses of 20+ chars)",
         _thr("max_junk_share", lambda v: (pl.col("junk_share") > v) & (pl.col("response_chars") >= 20))),
    Rule("pii.email", None, "an e-mail address", lambda c: pl.col("pii_email")),
    Rule("pii.phone", None, "a phone number", lambda c: pl.col("pii_phone")),
    Rule("pii.ip", None, "an IP address", lambda c: pl.col("pii_ip")),
    Rule("pii.card", None, "a payment card number shape", lambda c: pl.col("pii_card")),
    Rule("contamination.eval", "--eval", "the prompt matches or overlaps an eval-set prompt",
         lambda c: pl.col("contamination_eval_id").is_not_null()),
]

SEVERITY = {"keep": 0, "review": 1, "drop": 2}


def quality_expr() -> pl.Expr:
    """Composite quality in [0, 1], independent of duplicates (it decides which duplicate is kept).

    A base score rewards substantive answers (length, saturating at ~150 words) without repetition,
    symbols or off-language text; penalties then scale it down for defects that make a row useless
    (empty, refusal, placeholder, echo, one canned answer for many prompts) or doubtful (truncated,
    structure problems).
    """
    length = (pl.col("response_words").cast(pl.Float64).log1p() / pl.lit(150.0).log1p()).clip(0, 1)
    base = (0.4 * length
            + 0.2 * (1 - (pl.col("top_ngram_share") * 2).clip(0, 1))
            + 0.15 * (1 - pl.col("dup_line_share").clip(0, 1))
            + 0.15 * (1 - (pl.col("junk_share") * 4).clip(0, 1))
            + 0.1 * pl.col("lang_ok").cast(pl.Float64))
    penalty = (pl.when(pl.col("response_empty")).then(0.0).otherwise(1.0)
               * pl.when(pl.col("refusal") | pl.col("placeholder_response") | (pl.col("echo_similarity") >= 1))
               .then(0.2).otherwise(1.0)
               * pl.when(pl.col("truncated")).then(0.6).otherwise(1.0)
               * pl.when(pl.col("response_reuse") > 3).then(0.3).otherwise(1.0)
               * pl.when(pl.col("structure_bad")).then(0.5).otherwise(1.0))
    return (base * penalty).clip(0, 1)


def apply_rules(frame: pl.DataFrame, cfg: CurateConfig) -> pl.DataFrame:
    """Add ``reasons`` (without dedup codes), ``quality`` and helper columns to a frame with signals."""
    structure = structure_flags()
    flags = dict(structure)
    for rule in RULES:
        if rule.when is not None:
            expr = rule.when(cfg)
            if expr is not None:
                flags[rule.code] = expr
    expected = cfg.signals.languages
    frame = frame.with_columns(
        lang_ok=(pl.col("lang_response").is_null() | pl.col("lang_response").is_in(expected or ["__any__"]))
        if expected else pl.lit(True),
        structure_bad=pl.any_horizontal(list(structure.values())),
    )
    reasons = pl.concat_list([pl.when(e.fill_null(False)).then(pl.lit(code)).otherwise(pl.lit(None, pl.String))
                              for code, e in flags.items()]).list.drop_nulls()
    return frame.with_columns(reasons=reasons, quality=quality_expr())


def pick_representatives(frame: pl.DataFrame, cfg: CurateConfig) -> pl.DataFrame:
    """Add dedup reason codes to every cluster member but the best (quality, then first seen).

    Order: exact clusters first; their representatives then compete in near clusters; the survivors
    compete in same-prompt clusters. ``dup_cluster`` names the largest cluster a row belongs to.
    """
    ranked = frame.sort(["quality", "row_idx"], descending=[True, False])
    codes = []
    steps = [("exact_cluster", "dedup.exact", cfg.dedup.exact),
             ("near_cluster", "dedup.near", cfg.dedup.near),
             ("prompt_cluster", "dedup.same_prompt", cfg.dedup.same_prompt)]
    ranked = ranked.with_columns(_alive=pl.lit(True))
    for col, code, enabled in steps:
        if not enabled:
            continue
        # the first alive row of each cluster (in quality order) is its representative
        first_alive = pl.col("row_idx").filter(pl.col("_alive")).first().over(col)
        loser = pl.col(col).is_not_null() & pl.col("_alive") & (pl.col("row_idx") != first_alive)
        ranked = ranked.with_columns(**{f"_{code}": loser}).with_columns(_alive=pl.col("_alive") & ~pl.col(f"_{code}"))
        codes.append(code)
    dedup_reasons = pl.concat_list([pl.when(pl.col(f"_{c}")).then(pl.lit(c)).otherwise(pl.lit(None, pl.String))
                                    for c in codes]).list.drop_nulls() if codes else pl.lit([], pl.List(pl.String))
    labels = {"dedup.exact": pl.format("exact-{}", pl.col("exact_cluster")),
              "dedup.near": pl.format("near-{}", pl.col("near_cluster")),
              "dedup.same_prompt": pl.format("prompt-{}", pl.col("prompt_cluster"))}
    # A row that lost names the cluster it lost in; a representative names the widest cluster it heads.
    cluster = pl.coalesce(*[pl.when(pl.col(f"_{c}")).then(labels[c]) for c in codes],
                          labels["dedup.near"], labels["dedup.exact"], labels["dedup.same_prompt"])
    ranked = ranked.with_columns(reasons=pl.concat_list("reasons", dedup_reasons), dup_cluster=cluster)
    return ranked.drop([c for c in ranked.columns if c.startswith("_")]).sort("row_idx")


def verdicts(frame: pl.DataFrame, cfg: CurateConfig) -> pl.DataFrame:
    """Add ``verdict``: the most severe action among a row's reasons (keep when it has none)."""
    by_action = {a: [c for c, act in cfg.actions.items() if act == a] for a in ("drop", "review")}
    has = lambda codes: pl.col("reasons").list.set_intersection(pl.lit(codes, pl.List(pl.String))).list.len() > 0  # noqa: E731
    return frame.with_columns(
        verdict=pl.when(has(by_action["drop"])).then(pl.lit("drop"))
        .when(has(by_action["review"])).then(pl.lit("review")).otherwise(pl.lit("keep")))
