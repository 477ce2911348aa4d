"""Defect propensity: how likely a trained model finds a defective answer, relative to a good one.

For each defect class curate knows, continuations are taken from the rows the curate run rejected (or
sent to review) for that reason, plus, for refusals, a small packaged set (patterns/refusals.txt). Each
continuation is scored as the answer to a held-out prompt, and the **margin** is its mean assistant-token
loss minus the loss of the reference answer to the same prompt. A model that learned the defect finds it
more likely: its margin shrinks, long before greedy output shows the defect. No judge is needed.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import polars as pl

from train.data import Encoded, encode
from train.evalset import EvalSet, user_prompt

# class -> the curate reason codes whose rows supply its continuations
DEFECT_CLASSES: dict[str, tuple[str, ...]] = {
    "refusal": ("content.refusal",),
    "canned": ("content.repeated_response",),
    "truncated": ("format.truncated",),
    "placeholder": ("content.placeholder_response",),
    "wrong_language": ("language.unexpected", "language.mismatch"),
}
MAX_CONTINUATIONS = 200  # per class: more only repeats the same defect


def packaged_refusals() -> list[str]:
    text = resources.files("train").joinpath("patterns/refusals.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _stable(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def rejected_continuations(run_dir: Path | None) -> dict[str, list[str]]:
    """The responses of a curate run's non-kept rows, per defect class (distinct, in a stable order that
    does not depend on row order). Wrong-language continuations are those whose response itself is in a
    language the run did not expect (a row flagged for its prompt's language does not count)."""
    found: dict[str, list[str]] = {name: [] for name in DEFECT_CLASSES}
    path = run_dir / "annotated.parquet" if run_dir else None
    if path is None or not path.is_file():
        return found
    columns = ["response", "reasons", "verdict", "lang_response"]
    if not set(columns) <= set(pl.read_parquet_schema(path)):
        return found  # not written by sieve curate (a hand-made run): no reasons to read
    frame = pl.read_parquet(path, columns=columns)
    frame = frame.filter((pl.col("verdict") != "keep") & (pl.col("response").str.strip_chars() != ""))
    expected = expected_languages(run_dir)
    for name, codes in DEFECT_CLASSES.items():
        hit = pl.any_horizontal([pl.col("reasons").list.contains(c) for c in codes])
        if name == "wrong_language":
            hit = hit & pl.col("lang_response").is_not_null() & ~pl.col("lang_response").is_in(expected)
        texts = frame.filter(hit)["response"].unique().to_list()
        found[name] = sorted(texts, key=_stable)[:MAX_CONTINUATIONS]
    return found


def expected_languages(run_dir: Path | None) -> list[str]:
    """The languages a curate run expected in any of its files (its manifest's ``expected_languages``, per
    file); ``[]`` when unknown."""
    import json

    try:
        langs = json.loads((run_dir / "manifest.json").read_text()).get("expected_languages") if run_dir else None
    except (OSError, ValueError):
        return []
    if isinstance(langs, dict):
        langs = [x for per_file in langs.values() if isinstance(per_file, list) for x in per_file]
    return sorted({str(x) for x in langs}) if isinstance(langs, list) else []


def continuations(run_dir: Path | None) -> dict[str, list[str]]:
    found = rejected_continuations(run_dir)
    found["refusal"] = list(dict.fromkeys(found["refusal"] + packaged_refusals()))
    return found


def defect_sets(reference: EvalSet, texts: dict[str, list[str]], tok, n_prompts: int, min_rows: int,
                max_length: int) -> tuple[list[EvalSet], list[str]]:
    """One :class:`EvalSet` per defect class with at least ``min_rows`` continuations: the first
    ``n_prompts`` prompts of ``reference`` each answered by one continuation (assigned by a stable hash
    of class and prompt). Returns the sets and a note per class left out."""
    sets, notes = [], []
    for name, pool in texts.items():
        if len(pool) < min_rows:
            notes.append(f"defect class {name}: {len(pool)} continuation(s) in the run's rejects, fewer than "
                         f"{min_rows}; not measured")
            continue
        examples, rows, ref_index = [], [], []
        for i, messages in enumerate(reference.rows[:n_prompts]):
            prompt = user_prompt(messages)
            pick = pool[int(_stable(f"{name}:{i}"), 16) % len(pool)]
            convo = prompt + [{"role": "assistant", "content": pick}]
            got = encode(tok, {"id": f"defect-{name}-{i}", "messages": convo}, max_length, True)
            if isinstance(got, Encoded):
                examples.append(got)
                rows.append(convo)
                ref_index.append(i)
        if examples:
            sets.append(EvalSet(f"defect:{name}", examples, rows, f"{len(pool)} continuations", ref_index))
    return sets, notes


def margins(defect_losses: list[float], defect_tokens: list[int], ref_losses: list[float], ref_tokens: list[int],
            ref_index: list[int]) -> list[float]:
    """Per prompt: mean loss per token of the defect answer minus that of the reference answer."""
    return [defect_losses[k] / max(defect_tokens[k], 1) - ref_losses[i] / max(ref_tokens[i], 1)
            for k, i in enumerate(ref_index)]
