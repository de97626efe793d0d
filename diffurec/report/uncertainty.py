"""One estimand per comparison, with its interval and its p-value from one procedure: what the
verdict decides with.

The estimand is a mean over test users and training seeds: of a per-user difference (model A's
metric minus model B's on the same test user and seed), or, for two groups of users, the
difference of the groups' means. Values come as cells [seeds, users].

Its uncertainty has two sources, the test users drawn and the training seeds drawn, crossed (every
seed ranks the same users). With at least `MIN_SEEDS` seeds both enter (`Method.SEEDS_AND_USERS`):
the variance of the mean is estimated from the two-way random-effects decomposition of the cells,
seed + user + residual (for one group, Var = (MS_seed + MS_user - MS_residual) / (S U), the
unbiased estimate; for two groups the user terms of each group are added to the variance of the
seeds' group differences), and interval and p come from Student's t with Satterthwaite's degrees of
freedom. A crossed (pigeonhole) bootstrap of seeds and users would do the same job but counts the
residual variance about three times over (McCullagh 2000; Owen 2007): on cells without seed or
user effects its interval came out 1.8 times as wide (docs/benchmarks.md, "The verdict's
calibration"). With fewer seeds the training variance cannot be estimated (`Method.USERS`): each
user's values are averaged over the seeds, and a percentile bootstrap over users gives the
interval, and its own two-sided p-value min(1, 2 min(#{d <= 0}, #{d >= 0}) / B). The interval is
then the order statistics (d_(j), d_(B+1-j)), j = max(1, ceil(B alpha' / 2)), so p < alpha' exactly
when the interval at 1 - alpha' excludes zero, whatever B.

Either way p < alpha' exactly when the interval at level 1 - alpha' excludes zero. The verdict
takes alpha' = alpha / m over a family of m comparisons (Bonferroni): the adjusted p is
min(1, m p), below alpha exactly when the adjusted interval excludes zero, so that a status can be
read off its interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
from scipy import stats

# Below this many seeds a variance over seeds has one degree of freedom or none.
MIN_SEEDS = 3
# Bootstrap resamples drawn at once: bounds memory to batch x users float64.
_BATCH = 200


class Method(Enum):
    """Whose variance an interval holds."""

    SEEDS_AND_USERS = "seeds and users"
    USERS = "users"
    # Per-seed values only (no users): Student's paired t over seeds (diffurec.report.verdict).
    SEEDS = "seeds"


@dataclass(frozen=True)
class Estimate:
    """A mean difference, its interval at `confidence` and the two-sided p-value of no difference."""

    effect: float
    interval: tuple[float, float]
    p: float
    confidence: float
    users: int
    seeds: int
    method: Method


def paired(differences: np.ndarray, *, confidence: float, resamples: int, seed: int) -> Estimate:
    """The mean of per-user differences [seeds, users] (a 1-D array: one row, e.g. an ensemble's)."""
    cells = _cells(differences)
    return _estimate(cells, (np.ones(cells.shape[1], dtype=bool),), confidence, resamples, seed)


def two_groups(values: np.ndarray, group: np.ndarray, *, confidence: float, resamples: int, seed: int) -> Estimate:
    """mean(values of the users in `group`) - mean(values of the other users), values [seeds, users],
    group [users] bool."""
    cells = _cells(values)
    group = np.asarray(group, dtype=bool)
    if group.shape != (cells.shape[1],) or group.all() or not group.any():
        raise ValueError("two_groups needs one flag per user and at least one user in each group")
    return _estimate(cells, (group, ~group), confidence, resamples, seed)


def _cells(values: np.ndarray) -> np.ndarray:
    cells = np.asarray(values, dtype=np.float64)
    if cells.ndim == 1:
        cells = cells[None, :]
    if cells.ndim != 2 or cells.size == 0 or not np.isfinite(cells).all():
        raise ValueError(f"expected finite values [seeds, users], got shape {np.shape(values)}")
    return cells


def _estimate(cells: np.ndarray, groups: tuple[np.ndarray, ...], confidence: float, resamples: int,
              seed: int) -> Estimate:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    signs = (1.0, -1.0)[: len(groups)]
    effect = float(sum(sign * cells[:, members].mean() for sign, members in zip(signs, groups)))
    n_seeds, n_users = cells.shape
    if n_seeds >= MIN_SEEDS:
        return _random_effects(cells, groups, signs, effect, confidence)
    per_user = cells.mean(axis=0)
    low, high, p = _bootstrap([per_user[members] for members in groups], signs, confidence, resamples, seed)
    return Estimate(effect, (low, high), p, confidence, n_users, n_seeds, Method.USERS)


def _random_effects(cells: np.ndarray, groups: tuple[np.ndarray, ...], signs: tuple[float, ...], effect: float,
                    confidence: float) -> Estimate:
    """Student's t over the two-way (seed x user) random-effects variance of the estimate."""
    n_seeds = cells.shape[0]
    # The seeds' level: each seed's own estimate; its spread holds the seed effects and the residuals.
    per_seed = sum(sign * cells[:, members].mean(axis=1) for sign, members in zip(signs, groups))
    seed_term = float(np.var(per_seed, ddof=1)) / n_seeds
    # Satterthwaite's sum over every mean square in the estimate: (its share)^2 / its degrees of freedom.
    pieces = [seed_term**2 / (n_seeds - 1)]
    user_terms = 0.0
    for members in groups:
        block = cells[:, members]
        n_users = block.shape[1]
        if n_users < 2:
            continue
        user_means, seed_means, grand = block.mean(axis=0), block.mean(axis=1), block.mean()
        ms_user = n_seeds * float(((user_means - grand) ** 2).sum()) / (n_users - 1)
        residual = block - user_means[None, :] - seed_means[:, None] + grand
        ms_residual = float((residual**2).sum()) / ((n_seeds - 1) * (n_users - 1))
        # The users' own effects: what the user means vary by beyond the residual.
        scale = n_seeds * n_users
        user_terms += (ms_user - ms_residual) / scale
        pieces += [(ms_user / scale) ** 2 / (n_users - 1), (ms_residual / scale) ** 2 / ((n_seeds - 1) * (n_users - 1))]
    # A negative estimate of the users' share is taken as none.
    variance = seed_term + max(0.0, user_terms)
    if variance == 0.0:
        return Estimate(effect, (effect, effect), 1.0 if effect == 0.0 else 0.0, confidence, cells.shape[1], n_seeds,
                        Method.SEEDS_AND_USERS)
    df = variance**2 / sum(pieces)
    se = math.sqrt(variance)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, df)) * se
    p = float(2.0 * stats.t.sf(abs(effect) / se, df))
    return Estimate(effect, (effect - half, effect + half), p, confidence, cells.shape[1], n_seeds,
                    Method.SEEDS_AND_USERS)


def _bootstrap(samples: list[np.ndarray], signs: tuple[float, ...], confidence: float, resamples: int,
               seed: int) -> tuple[float, float, float]:
    """Percentile bootstrap of sum(sign x mean(sample)), each sample resampled on its own: the
    interval's two order statistics and the two-sided p-value (module docstring)."""
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    rng = np.random.default_rng(seed)
    distribution = np.zeros(resamples)
    for start in range(0, resamples, _BATCH):
        size = min(_BATCH, resamples - start)
        for sign, sample in zip(signs, samples):
            drawn = sample[rng.integers(sample.size, size=(size, sample.size))]
            distribution[start : start + size] += sign * drawn.mean(axis=1)
    ordered = np.sort(distribution)
    j = max(1, math.ceil(resamples * (1.0 - confidence) / 2.0))
    below, above = int((ordered <= 0.0).sum()), int((ordered >= 0.0).sum())
    p = min(1.0, 2.0 * min(below, above) / resamples)
    return float(ordered[j - 1]), float(ordered[resamples - j]), p


def sample_factor(estimate: Estimate, smallest_effect: float) -> float | None:
    """How many times this run's sample (its users, or its seeds and users) the interval would need,
    at the observed variance and effect, to settle the comparison the nearer way: to exclude zero,
    or, for an effect smaller than `smallest_effect`, to fit within ± it. An interval narrows as one
    over the square root of its sample. None when the interval has no width or the effect no room."""
    low, high = estimate.interval
    half = (high - low) / 2.0
    effect = abs(estimate.effect)
    room = max(effect, smallest_effect - effect)
    if half <= 0.0 or room <= 0.0:
        return None
    return (half / room) ** 2
