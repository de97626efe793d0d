"""One estimate per comparison: closed forms of the two-way variance, the bootstrap's interval and
p-value agreeing exactly, and the decision functions calibrated on simulated truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from diffurec.report.uncertainty import Estimate, Method, paired, sample_factor, two_groups
from verdict_calibration import simulate_rates

OPTIONS = dict(resamples=400, seed=0)


def test_seed_effects_alone_give_students_interval_over_the_seeds() -> None:
    # Every user of a seed differs alike: the estimate is the t over the four seed means.
    seed_effects = np.array([0.010, 0.030, 0.020, 0.040])
    cells = np.repeat(seed_effects[:, None], 50, axis=1)
    estimate = paired(cells, confidence=0.9, **OPTIONS)
    half = stats.t.ppf(0.95, 3) * seed_effects.std(ddof=1) / 2.0
    assert estimate.method == Method.SEEDS_AND_USERS
    assert estimate.interval == pytest.approx((0.025 - half, 0.025 + half))
    assert estimate.p == pytest.approx(stats.ttest_1samp(seed_effects, 0.0).pvalue)


def test_user_effects_alone_give_the_users_standard_error() -> None:
    # Every seed agrees on each user: the variance is that of a mean over the users.
    users = np.random.default_rng(0).normal(0.01, 0.1, 400)
    estimate = paired(np.repeat(users[None, :], 3, axis=0), confidence=0.95, **OPTIONS)
    se = users.std(ddof=1) / math.sqrt(users.size)
    half = stats.t.ppf(0.975, users.size - 1) * se
    assert estimate.interval == pytest.approx((users.mean() - half, users.mean() + half))


def test_below_three_seeds_the_bootstrap_of_users_decides_and_agrees_with_its_p() -> None:
    rng = np.random.default_rng(1)
    for trial in range(20):
        cells = rng.normal(rng.normal(0, 0.01), 0.1, (2, 200))
        for confidence in (0.95, 1 - 0.05 / 3):
            estimate = paired(cells, confidence=confidence, resamples=500, seed=trial)
            assert estimate.method == Method.USERS
            low, high = estimate.interval
            assert (estimate.p < 1 - confidence) == (low > 0 or high < 0)


def test_identical_models_have_a_point_interval_at_zero() -> None:
    for seeds in (1, 3):
        estimate = paired(np.zeros((seeds, 30)), confidence=0.95, **OPTIONS)
        assert estimate.interval == (0.0, 0.0) and estimate.p == 1.0


def test_two_groups_resample_each_group_within_itself() -> None:
    values = np.concatenate([np.full(40, 0.3), np.full(60, 0.1)])[None, :]
    group = np.arange(100) < 40
    estimate = two_groups(values, group, confidence=0.95, **OPTIONS)
    # No spread within either group: every resample gives 0.3 - 0.1.
    assert estimate.effect == pytest.approx(0.2) and estimate.interval == pytest.approx((0.2, 0.2))
    with pytest.raises(ValueError, match="each group"):
        two_groups(values, np.ones(100, dtype=bool), confidence=0.95, **OPTIONS)


def test_the_sample_factor_settles_the_nearer_way() -> None:
    # Half-width 0.02: an effect of 0.01 excludes zero at 4x the sample; one of 0.001 fits within
    # ± 0.005 at (0.02 / 0.004)^2 = 25x; one of 0.004 excludes zero sooner (25x) than it fits (400x).
    for effect, factor in ((0.01, 4.0), (0.001, 25.0), (0.004, 25.0)):
        estimate = Estimate(effect, (effect - 0.02, effect + 0.02), 0.5, 0.95, 100, 1, Method.USERS)
        assert sample_factor(estimate, 0.005) == pytest.approx(factor)
    assert sample_factor(Estimate(0.0, (0.0, 0.0), 1.0, 0.95, 100, 1, Method.USERS), 0.005) is None


def test_the_decisions_keep_wrong_claims_rare_under_the_null_and_see_a_large_shift() -> None:
    # The calibration benchmark, small: a hundred simulated runs at the default's size (its full
    # version: docs/benchmarks.md); twice alpha leaves room for the simulation's own noise.
    rates = simulate_rates(seeds=3, shift=0.0, runs=100, seed=0)
    assert rates["wrong"] <= 0.1
    # Twice the paper's 1.5 points: most comparisons see it.
    shifted = simulate_rates(seeds=3, shift=0.03, runs=10, seed=1)
    assert shifted["supported"] >= 0.5 and shifted["wrong"] == 0.0
