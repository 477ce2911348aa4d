"""Contamination: rows whose prompt matches, contains or overlaps a prompt of an evaluation set.

Words are :data:`curate.scripts.TOKEN` (each Chinese or Japanese character is one). An eval prompt
of at least ``n`` words matches a row when at least ``min_overlap`` of its word
n-grams occur in the row's prompt (folded text); a shorter eval prompt (>= 4 words) matches when it
is contained in the row's prompt; any eval prompt matches a row with the same folded prompt.
Folding here is loose (punctuation and symbols ignored), unlike the dedup keys. The best
match is reported with the eval row's id (its ``id`` field, else ``file:line``).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from curate.formats import INPUT_KEYS, INSTRUCTION_KEYS, RowError, row_format, to_messages
from curate.errors import EvalSetError, InputNotFoundError
from curate.input_scan import expand_inputs
from curate.readers import read_file
from curate.scripts import TOKEN, words
from curate.text import fold_loose


def load_eval_prompts(paths: list[str | Path]) -> pl.DataFrame:
    """Eval prompts from any ingestible file; prompt-only files (no response field) work too.

    Returns columns ``eval_id`` and ``eval_prompt`` (user turns joined like ingestion does). Raises
    :class:`EvalSetError` when a path matches nothing or a file yields no prompt.
    """
    ids, prompts = [], []
    try:
        files = expand_inputs(paths)
    except InputNotFoundError as exc:
        raise EvalSetError(f"--eval {exc}") from None
    for path in files:
        raw = read_file(path)
        found = 0
        for line, obj in raw.rows:
            prompt = _prompt_of(obj)
            if prompt:
                ids.append(str(obj.get("id", f"{Path(path).name}:{line}")))
                prompts.append(prompt)
                found += 1
        if not found:
            why = raw.quarantine[0].error if raw.quarantine else "no row has a prompt (instruction, messages, ...)"
            raise EvalSetError(f"--eval {path}: no eval prompt could be read ({why}); the contamination "
                               "check would be silently off")
    return pl.DataFrame({"eval_id": ids, "eval_prompt": prompts}, schema={"eval_id": pl.String, "eval_prompt": pl.String})


def _prompt_of(obj: dict) -> str | None:
    fmt = row_format(obj)
    if fmt:
        try:
            return "\n\n".join(m["content"] for m in to_messages(obj, fmt) if m["role"] == "user")
        except RowError:
            pass
    key = next((k for k in INSTRUCTION_KEYS if obj.get(k)), None)
    if key is None:
        return None
    extra = next((str(obj[k]) for k in INPUT_KEYS if obj.get(k)), "")
    return f"{obj[key]}\n\n{extra}" if extra.strip() else str(obj[key])


def _ngrams(words: pl.Expr, n: int) -> pl.Expr:
    return words.list.eval(
        pl.concat_str([pl.element().shift(-k) for k in range(n)], separator=" ").drop_nulls().hash()
    ).list.unique()


def contamination(frame: pl.DataFrame, evals: pl.DataFrame, n: int = 8, min_overlap: float = 0.5,
                  chunk_rows: int = 100_000, min_short_words: int = 4) -> pl.DataFrame:
    """Per row of ``frame`` (needs ``row_idx``, ``prompt``): ``contamination_eval_id`` and
    ``contamination_overlap`` (null when no eval prompt matches). Both sides use the loose key
    (:func:`curate.text.fold_loose`): a leak with changed punctuation is still a leak."""
    frame = frame.select("row_idx", norm_prompt=fold_loose(pl.col("prompt")))
    ev = evals.with_columns(norm=fold_loose(pl.col("eval_prompt"))).filter(pl.col("norm") != "")
    ev = ev.with_columns(words=pl.col("norm").str.extract_all(TOKEN))
    long_ev = ev.filter(pl.col("words").list.len() >= n).with_columns(ng=_ngrams(pl.col("words"), n))
    ev_ng = long_ev.select("eval_id", "ng", total=pl.col("ng").list.len()).explode("ng")
    # a short eval prompt must still say something: four words, counting Chinese/Japanese characters 1.5
    # to a word ("写一首诗" is one short phrase, not four words)
    short_ev = ev.filter((pl.col("words").list.len() < n) & (words(pl.col("norm")) >= min_short_words))
    matches = []
    # 1. the same folded prompt
    matches.append(frame.select("row_idx", "norm_prompt").join(
        ev.select("eval_id", norm_prompt="norm"), on="norm_prompt").select("row_idx", "eval_id", overlap=pl.lit(1.0)))
    # 2. short eval prompts contained in the row's prompt (Aho-Corasick over all of them at once)
    if short_ev.height:
        pats = short_ev["norm"].to_list()
        lookup = dict(zip(pats, short_ev["eval_id"].to_list()))
        found = (frame.select("row_idx", m=pl.col("norm_prompt").str.extract_many(pats).list.first())
                 .drop_nulls("m"))
        matches.append(found.select("row_idx", eval_id=pl.col("m").replace_strict(lookup, return_dtype=pl.String),
                                    overlap=pl.lit(1.0)))
    # 3. n-gram overlap with long eval prompts, in chunks to bound memory
    if ev_ng.height:
        for start in range(0, frame.height, chunk_rows):
            part = frame.slice(start, chunk_rows).select(
                "row_idx", ng=_ngrams(pl.col("norm_prompt").str.extract_all(TOKEN), n)).explode("ng")
            hits = part.join(ev_ng, on="ng").group_by("row_idx", "eval_id").agg(
                overlap=pl.len() / pl.col("total").first())
            matches.append(hits.filter(pl.col("overlap") >= min_overlap).select("row_idx", "eval_id", "overlap"))
    # the best overlap; among equals the first eval id: the same answer however the rows are batched
    best = (pl.concat(matches).sort(["overlap", "eval_id"], descending=[True, False], maintain_order=True)
            .unique("row_idx", keep="first")
            .rename({"eval_id": "contamination_eval_id", "overlap": "contamination_overlap"}))
    return frame.select("row_idx").join(best, on="row_idx", how="left", maintain_order="left").drop("row_idx")
