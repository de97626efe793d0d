"""Paired significance tests of a model against a reference model, and a check of the paper's Table 4.

The paper's test (Table 4) is a paired t-test over the six metric means of one dataset (n = 6,
df = 5). Its six "samples" are nested cut-offs of the same rankings, not independent replicates,
and run-to-run variance never enters it; it is kept to compare with the paper. Beside it stand
two tests whose samples are replicates: seeds (per metric, paired by seed) and users (per-user
NDCG, seeds averaged, Wilcoxon signed-rank).

The references are DiffuRec, as in the paper, and the control (DiffuRec without diffusion), which
says what the diffusion itself adds; `comparison_pairs` decides which pairs are tested.

For a family of such tests: Holm's step-down adjustment of their p-values; and a seeded
percentile bootstrap interval of a mean (the case study's per-group intervals). The verdict's
estimates are diffurec.report.uncertainty's.
"""

from __future__ import annotations

import math
from statistics import fmean
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from diffurec.variants import BASELINE, CONTROL, PAPER_VARIANTS

# Per-user test metric: NDCG at the paper's headline cut-off.
PER_USER_K = 10
# Half the unit of the paper's last printed digit: it prints Tables 3 and 4 to 4 decimals.
PAPER_HALF_UNIT = 0.5e-4
# The models every other model is tested against, in the order Table 4 lists them.
REFERENCES = (BASELINE, CONTROL)
# Bootstrap resamples computed at once: 200 x 22,000 users (Amazon Beauty) is 35 MB of float64.
_BOOTSTRAP_BATCH = 200


@dataclass(frozen=True)
class PairedTTest:
    """Student's paired t-test of mean(a - b) = 0, two-sided; `t` and `p` are None when undefined."""

    n: int
    mean_diff: float
    t: float | None
    p: float | None
    undefined: str | None = None

    @property
    def df(self) -> int:
        return self.n - 1


@dataclass(frozen=True)
class SignedRankTest:
    """Wilcoxon signed-rank test of a - b, two-sided, zero differences dropped.

    p from scipy's `wilcoxon` on the non-zero differences: exact below 51 of them without ties,
    else the normal approximation with the tie correction (no continuity correction). `w_plus` is
    the rank sum of the positive differences, and z its standardised value, so z > 0 means `a`
    tends to beat `b`.
    """

    n: int
    nonzero: int
    mean_diff: float
    w_plus: float | None
    z: float | None
    p: float | None
    undefined: str | None = None


@dataclass(frozen=True)
class PrintedTTest:
    """One row of the paper's Table 4 as printed; `avg_diff_pp` in percentage points."""

    t: float
    p: float
    avg_diff_pp: float


@dataclass(frozen=True)
class Reproduction:
    """A recomputed paper-style test and the ranges that rounding of its inputs allows."""

    variant: str
    test: PairedTTest
    t_bound: float
    p_low: float
    p_high: float
    matches: bool


@dataclass(frozen=True)
class PaperRowCheck:
    """A printed Table 4 row against the test recomputed from each variant's Table 3 means."""

    dataset: str
    printed_label: str
    printed: PrintedTTest
    candidates: tuple[Reproduction, ...]

    @property
    def matched(self) -> tuple[str, ...]:
        return tuple(c.variant for c in self.candidates if c.matches)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PaperRowCheck:
        candidates = tuple(
            Reproduction(**{**c, "test": PairedTTest(**c["test"])}) for c in raw["candidates"]
        )
        return cls(raw["dataset"], raw["printed_label"], PrintedTTest(**raw["printed"]), candidates)


@dataclass(frozen=True)
class VariantComparison:
    """Every test of one variant against a reference model (`reference`) on one dataset."""

    dataset: str
    variant: str
    metric_means: PairedTTest
    per_metric: dict[str, PairedTTest]
    per_user: SignedRankTest
    reference: str = BASELINE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> VariantComparison:
        return cls(
            raw["dataset"],
            raw["variant"],
            PairedTTest(**raw["metric_means"]),
            {metric: PairedTTest(**test) for metric, test in raw["per_metric"].items()},
            SignedRankTest(**raw["per_user"]),
            # Results written before the control existed compared with DiffuRec only.
            raw.get("reference", BASELINE),
        )


def comparison_pairs(variants: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """(variant, reference) for every test Table 4 makes among `variants`, references in REFERENCES order.

    Each listed reference is tested against by every other listed model, except that two references
    are tested once, the earlier against the later (DiffuRec vs the control): the reverse would be
    the same test with the sign flipped.
    """
    pairs = []
    for rank, reference in enumerate(REFERENCES):
        if reference not in variants:
            continue
        for variant in variants:
            if variant != reference and variant not in REFERENCES[rank + 1 :]:
                pairs.append((variant, reference))
    return tuple(pairs)


def compare_variant(
    dataset: str,
    variant: str,
    values: Mapping[str, Sequence[float]],
    baseline: Mapping[str, Sequence[float]],
    variant_ndcg: np.ndarray,
    baseline_ndcg: np.ndarray,
    *,
    reference: str = BASELINE,
) -> VariantComparison:
    """Every test of `variant` against `reference` (DiffuRec unless told) on one dataset.

    `values` and `baseline`: metric -> one value per seed of `variant` and of `reference`, the seeds
    in the same order (the metrics in the order the paper's test sees them); `variant_ndcg` and
    `baseline_ndcg`: per-user NDCG@PER_USER_K averaged over those seeds, the users in the same order.
    """
    metrics = list(values)
    return VariantComparison(
        dataset=dataset,
        variant=variant,
        metric_means=paired_ttest([fmean(values[m]) for m in metrics], [fmean(baseline[m]) for m in metrics]),
        per_metric={m: paired_ttest(values[m], baseline[m]) for m in metrics},
        per_user=signed_rank_test(variant_ndcg, baseline_ndcg),
        reference=reference,
    )


def paired_ttest(a: Sequence[float], b: Sequence[float]) -> PairedTTest:
    """Paired t-test of `a` against `b` (same length, pairs aligned)."""
    diff = _differences(a, b)
    n = diff.size
    mean = float(diff.mean())
    if n < 2:
        return PairedTTest(n, mean, None, None, "one pair: no variance to test against")
    if np.ptp(diff) == 0.0:
        return PairedTTest(n, mean, None, None, "every pair differs by the same amount: zero variance")
    t = mean / (float(diff.std(ddof=1)) / math.sqrt(n))
    return PairedTTest(n, mean, t, _two_sided_t(t, n - 1))


def signed_rank_test(a: Sequence[float], b: Sequence[float]) -> SignedRankTest:
    """Wilcoxon signed-rank test of `a` against `b` (same length, pairs aligned)."""
    diff = _differences(a, b)
    n = diff.size
    mean = float(diff.mean())
    nonzero = diff[diff != 0.0]
    m = nonzero.size
    if m == 0:
        return SignedRankTest(n, 0, mean, None, None, None, "every pair is tied")
    ranks = stats.rankdata(np.abs(nonzero))
    w_plus = float(ranks[nonzero > 0].sum())
    _, tie_counts = np.unique(ranks, return_counts=True)
    variance = m * (m + 1) * (2 * m + 1) / 24.0 - float((tie_counts**3 - tie_counts).sum()) / 48.0
    z = (w_plus - m * (m + 1) / 4.0) / math.sqrt(variance) if variance > 0.0 else 0.0
    p = float(stats.wilcoxon(nonzero, zero_method="wilcox", correction=False, method="auto").pvalue)
    return SignedRankTest(n, m, mean, w_plus, z, p)


def t_rounding_bound(a: Sequence[float], b: Sequence[float], half_unit: float) -> float:
    """First-order bound on how far the paired t can move when each entry is off by <= half_unit.

    t = sqrt(n) m / s over d = a - b, so dt/dd_i = sqrt(n) (1 / (n s) - m (d_i - m) / ((n - 1) s^3)),
    and each d_i is off by at most 2 * half_unit.
    """
    diff = _differences(a, b)
    n = diff.size
    mean = diff.mean()
    sd = diff.std(ddof=1)
    gradient = math.sqrt(n) * (1.0 / (n * sd) - mean * (diff - mean) / ((n - 1) * sd**3))
    return float(2.0 * half_unit * np.abs(gradient).sum())


def reproduce(
    variant: str, a: Sequence[float], b: Sequence[float], printed: PrintedTTest, half_unit: float
) -> Reproduction:
    """Does the paired t-test of rounded means `a` vs `b` reproduce a printed row?

    Inputs and printed values are rounded to the same `half_unit` (the paper prints 4 decimals
    everywhere). Each must fall within what the rounding of `a` and `b` allows, widened by the
    rounding of the printed value itself: t within the first-order bound, p within the p-values of
    that t range, and the average difference (printed in percentage points) within 100 * 2 * half_unit.
    """
    test = paired_ttest(a, b)
    if test.t is None:
        return Reproduction(variant, test, math.inf, 0.0, 1.0, False)
    bound = t_rounding_bound(a, b, half_unit)
    df = test.df
    p_low = _two_sided_t(abs(test.t) + bound, df)
    p_high = _two_sided_t(max(abs(test.t) - bound, 0.0), df)
    matches = (
        abs(test.t - printed.t) <= bound + half_unit
        and p_low - half_unit <= printed.p <= p_high + half_unit
        and abs(100.0 * test.mean_diff - printed.avg_diff_pp) <= 100.0 * 2.0 * half_unit + half_unit
    )
    return Reproduction(variant, test, bound, p_low, p_high, matches)


def check_paper_table4(
    means: Mapping[str, Mapping[str, Sequence[float]]],
    printed: Mapping[str, Mapping[str, PrintedTTest]],
    half_unit: float,
    baseline: str = BASELINE,
) -> list[PaperRowCheck]:
    """Recompute every printed Table 4 row from the Table 3 means of every other paper variant.

    means[dataset][variant] lists the metric means in one fixed order; printed[dataset][label]
    is the row printed under that label. Datasets and labels keep the mappings' order.
    """
    checks = []
    for dataset, rows in printed.items():
        columns = means[dataset]
        for label, row in rows.items():
            # Only the paper's models: a column of ours, such as the control, is no candidate.
            candidates = tuple(
                reproduce(variant, values, columns[baseline], row, half_unit)
                for variant, values in columns.items()
                if variant != baseline and variant in PAPER_VARIANTS
            )
            checks.append(PaperRowCheck(dataset, label, row, candidates))
    return checks


def _two_sided_t(t: float, df: int) -> float:
    return float(2.0 * stats.t.sf(abs(t), df))


def _differences(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(f"paired samples must be non-empty 1-D arrays of equal length, got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired samples must be finite")
    return a - b


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment: the i-th smallest of m p-values becomes
    max over j <= i of min(1, (m - j + 1) p_(j)), so that rejecting every adjusted p < alpha keeps
    the chance of any false rejection in the family below alpha. None (a test that could not be
    computed) stays None and is not counted in m."""
    defined = [(p, index) for index, p in enumerate(pvalues) if p is not None]
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    # Sorted by p, ties in input order, so the result does not depend on how a sort breaks ties.
    for rank, (p, index) in enumerate(sorted(defined)):
        running = max(running, min(1.0, (len(defined) - rank) * p))
        adjusted[index] = running
    return adjusted


def bootstrap_interval(
    values: Sequence[float], *, resamples: int, seed: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(values) (for paired samples, pass their differences).

    Every call draws from a fresh generator seeded with `seed`, so an interval depends only on its
    own data, never on which intervals were computed before it. Percentile, not BCa: BCa's jackknife
    costs a pass per user, seconds per interval on the paper's datasets, and over hundreds of users
    the two agree to far below the printed decimals.
    """
    sample = np.asarray(values, dtype=np.float64)
    if sample.ndim != 1 or sample.size == 0:
        raise ValueError("bootstrap_interval takes one non-empty 1-D sample")
    if np.ptp(sample) == 0.0:
        # Nothing varies, so every resample gives the same mean: the interval is that point.
        return float(sample[0]), float(sample[0])
    result = stats.bootstrap(
        (sample,),
        np.mean,
        n_resamples=resamples,
        # Resamples in batches bound the memory to batch x users.
        batch=_BOOTSTRAP_BATCH,
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)
