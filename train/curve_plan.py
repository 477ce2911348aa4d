"""A learning curve's time budget: what a point costs on this machine, and which sizes and seeds fit.

A point's cost is its training tokens over the measured training throughput, plus a fixed part (scoring
every eval and defect set, sampling and checking answers) measured on the base model's point, which runs
first anyway. Training throughput is measured on a few real steps before the plan is made.
"""

from __future__ import annotations

from dataclasses import dataclass

LADDER = (25, 50, 100, 200, 400, 800, 1600, 3200, 6400)  # doubling sizes: even spacing on a log axis


@dataclass
class Costs:
    train_tokens_per_s: float
    fixed_s: float                     # per point: evaluation, sampling and checking
    row_tokens: dict[str, float]       # per arm: mean tokens per row (prompt and answer), what training costs
    epochs: float

    def point_seconds(self, arm: str, size: int) -> float:
        return size * self.epochs * self.row_tokens[arm] / max(self.train_tokens_per_s, 1e-9) + self.fixed_s

    def total_seconds(self, sizes: list[int], seeds: int) -> float:
        return seeds * sum(self.point_seconds(arm, s) for s in sizes for arm in self.row_tokens)


def pick_sizes_and_seeds(costs: Costs, budget_s: float, largest: int) -> tuple[list[int], int, str]:
    """The most sizes of the doubling ladder (from 50, or 25 when 50 does not fit) with three seeds that fit
    the budget; two seeds when three do not fit even two sizes. Returns (sizes, seeds, a sentence)."""
    ladder = [s for s in LADDER if s <= largest] or [largest]
    for seeds in (3, 2):
        for start in (1, 0) if len(ladder) > 1 else (0,):
            sizes: list[int] = []
            for s in ladder[start:]:
                if costs.total_seconds(sizes + [s], seeds) > budget_s:
                    break
                sizes.append(s)
            if len(sizes) >= 2 or (seeds == 2 and start == 0 and sizes):
                est = costs.total_seconds(sizes, seeds)
                return sizes, seeds, (f"plan: sizes {', '.join(map(str, sizes))} x {seeds} seeds x {len(costs.row_tokens)} "
                                      f"arms, estimated {_minutes(est)} of {_minutes(budget_s)} minutes")
    sizes = ladder[:1]
    est = costs.total_seconds(sizes, 2)
    return sizes, 2, (f"plan: even the smallest curve (size {sizes[0]}, 2 seeds) needs about {_minutes(est)} "
                      f"minutes, more than the {_minutes(budget_s)} given; running it anyway")


def _minutes(seconds: float) -> str:
    """Minutes as a reader wants them: whole from 10 on, else to two significant digits (never "0")."""
    return f"{seconds / 60:.0f}" if seconds >= 600 else f"{seconds / 60:.2g}"


def describe(costs: Costs, sizes: list[int], seeds: int, budget_s: float | None) -> str:
    est = costs.total_seconds(sizes, seeds)
    line = (f"estimate: {est / 60:.1f} minutes for {len(sizes)} sizes x {seeds} seeds x {len(costs.row_tokens)} arms "
            f"(training {costs.train_tokens_per_s:,.0f} tokens/s; {costs.fixed_s:.0f} s of evaluation and sampling "
            "per point)")
    if budget_s is not None and est > budget_s:
        line += f"; WARNING: more than the {_minutes(budget_s)}-minute budget (finished points are kept: re-run to resume)"
    return line
