"""The learning curve's settings: the ``[curve]`` section of the ``sieve train`` configuration.

Every default of ``sieve train --curve`` lives here. The section is part of :class:`TrainConfig` (one
config model per tool); the older flat keys ``curve_sizes``, ``curve_seeds``, ``curve_fit_min_sizes`` and
``curve_baseline`` are still read and moved into it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from schemas.section import Section

BASELINES = ("random", "longest")  # always trained beside the curated arm when DATA is a curate run
LEGACY_KEYS = {"curve_sizes": "sizes", "curve_seeds": "seeds", "curve_fit_min_sizes": "fit_min_sizes",
               "curve_baseline": "baselines"}


class CurveSettings(Section):
    sizes: list[int | Literal["all"]] = Field(
        default_factory=lambda: [50, 100, 200, 400],
        description="training examples per point: doubling sizes spread evenly on the log axis a curve is read "
        "on; 'all': every row of the smallest arm")
    seeds: int = Field(3, ge=1, description="seeds per point (LoRA initialisation, data order, and the draw of "
                       "the random arms); three is the fewest that gives a paired interval any width")
    fit_min_sizes: int = Field(
        4, ge=4, description="sizes needed for the power-law fit: three parameters and one degree of freedom")
    baselines: bool = Field(True, description="train the random and longest rows of the raw input beside the "
                            "curated rows when DATA is a curate run (the two baselines curation must beat)")
    arms: list[str] = Field(default_factory=list, description="extra arms: sieve select strategies (quality, "
                            "ifd, diverse, deita, ...) drawn from the rows the run kept")
    match: Literal["examples", "tokens"] = Field(
        "examples", description="examples: every arm trains on the same number of rows; tokens: on the same "
        "number of trained assistant tokens as the curated arm (a longer-answer arm cannot win on volume)")
    defect_prompts: int = Field(
        40, ge=1, description="held-out prompts (from the first --eval file) each defect continuation is scored "
        "as an answer to (each class costs this many rows of scoring per point)")
    min_defect_rows: int = Field(
        3, ge=1, description="a defect class is measured only with at least this many distinct continuations "
        "(rejected rows of that reason, plus the packaged refusals)")
    generation_prompts: int = Field(
        32, ge=0, description="held-out prompts answered by sampling at every point (0: no generations)")
    samples_per_prompt: int = Field(
        1, ge=1, description="sampled answers per prompt and point (each point has its seeds too)")
    temperature: float = Field(
        1.0, gt=0, description="sampling temperature: 1.0 shows what the model prefers; greedy decoding hides "
        "any defect the model prefers less than half the time")
    max_new_tokens: int = Field(
        128, ge=8, description="answer length cap; answers that stop there are counted apart, not as truncated")
    eval_batch_tokens: int = Field(
        1024, ge=128, description="padded tokens per evaluation batch (rows sorted by length, so padding is small)")
    bootstrap: int = Field(2000, ge=200, description="bootstrap resamples over eval rows and seeds")
    budget_minutes: float | None = Field(
        None, gt=0, description="plan the curve to fit this many minutes (measured throughput); None: no plan")

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, v: list[int | str]) -> list[int | str]:
        nums = [s for s in v if s != "all"]
        if not v:
            raise ValueError("curve sizes: at least one size (e.g. [50, 100, 200, 400])")
        if any(s <= 0 for s in nums) or nums != sorted(nums) or len(set(nums)) != len(nums):
            raise ValueError("curve sizes must be increasing positive numbers, optionally ending with 'all'")
        if "all" in v and v[-1] != "all":
            raise ValueError("curve sizes: 'all' must come last")
        return v

    @field_validator("arms")
    @classmethod
    def _arms(cls, v: list[str]) -> list[str]:
        from curate.selection import STRATEGIES

        bad = [a for a in v if a not in STRATEGIES or a in BASELINES]
        if bad:
            raise ValueError(f"curve arms {bad}: an extra arm is one of the sieve select strategies "
                             f"{[s for s in STRATEGIES if s not in BASELINES]} (random and longest are the "
                             "baselines, always run)")
        return list(dict.fromkeys(v))


def move_legacy_keys(data: dict) -> dict:
    """``curve_sizes = [...]`` at the top level -> ``[curve] sizes = [...]`` (an explicit section wins)."""
    legacy = {new: data.pop(old) for old, new in LEGACY_KEYS.items() if old in data}
    if not legacy:
        return data
    section = data.get("curve")
    section = dict(section) if isinstance(section, dict) else {}
    for key, value in legacy.items():
        if value is not None:
            section.setdefault(key, value)
    return {**data, "curve": section}
