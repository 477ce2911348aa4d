"""The learning curve's statistics and plan, on hand-made numbers with known answers."""

import numpy as np
import pytest

from train.curve_plan import Costs, pick_sizes_and_seeds
from train.stats import Comparison, holm, paired_bootstrap, pearson


def test_paired_bootstrap_finds_a_constant_shift_and_its_sign():
    rng = np.random.default_rng(1)
    difficulty = rng.normal(3.0, 1.0, size=(3, 200))  # rows differ far more than the arms do
    a = difficulty - 0.05 + rng.normal(0, 0.01, size=(3, 200))
    b = difficulty
    diff, low, high, p = paired_bootstrap(a, b, resamples=1000)
    assert diff == pytest.approx(-0.05, abs=0.005)
    assert low < -0.04 and high < -0.04 and low <= diff <= high and p < 0.01
    # unpaired, the same shift would drown in row difficulty: the pairing is what makes it measurable
    assert np.std(difficulty) > 10 * 0.05


def test_paired_bootstrap_includes_zero_when_arms_only_differ_by_noise():
    rng = np.random.default_rng(2)
    base = rng.normal(2.0, 0.5, size=(3, 100))
    diff, low, high, p = paired_bootstrap(base + rng.normal(0, 0.2, base.shape), base + rng.normal(0, 0.2, base.shape),
                                          resamples=1000)
    assert low < 0 < high and p > 0.05


def test_paired_bootstrap_weights_rows_by_tokens():
    a = np.array([[1.0, 3.0]])
    b = np.array([[0.0, 0.0]])
    diff, *_ = paired_bootstrap(a, b, weights=np.array([3.0, 1.0]), resamples=200)
    assert diff == pytest.approx((1 * 3 + 3 * 1) / 4)


def test_holm_adjusts_step_down_and_keeps_order():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]


def test_comparison_says_which_arm_an_interval_favours():
    lower_better = Comparison("fit:x", 100, "curated", "random", -0.1, -0.2, -0.05, 0.001, "lower")
    assert lower_better.favours == "curated"
    margin = Comparison("margin:refusal", 100, "curated", "random", -0.1, -0.2, -0.05, 0.001, "higher")
    assert margin.favours == "random"
    assert Comparison("fit:x", 100, "curated", "random", 0.0, -0.1, 0.1, 0.9, "lower").favours is None


def test_pearson_and_its_undefined_cases():
    assert pearson([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([1, 2], [1, 2]) is None and pearson([1, 1, 1], [1, 2, 3]) is None


def test_the_plan_fits_the_budget_with_three_seeds_when_it_can():
    costs = Costs(train_tokens_per_s=1000, fixed_s=10, row_tokens={"curated": 100, "random": 100, "longest": 300},
                  epochs=2)
    sizes, seeds, line = pick_sizes_and_seeds(costs, budget_s=1800, largest=10_000)
    assert seeds == 3 and sizes[0] == 50 and costs.total_seconds(sizes, seeds) <= 1800
    assert costs.total_seconds(sizes + [sizes[-1] * 2], seeds) > 1800  # the next size would not fit
    assert "plan:" in line
    tiny, seeds, line = pick_sizes_and_seeds(costs, budget_s=5, largest=10_000)
    assert tiny == [25] and seeds == 2 and "more than" in line
