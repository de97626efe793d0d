"""The significance tests against scipy and hand-worked cases, and the paper's Table 4 recomputed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from diffurec.report.significance import (
    PAPER_HALF_UNIT,
    PairedTTest,
    PaperRowCheck,
    PrintedTTest,
    SignedRankTest,
    VariantComparison,
    bootstrap_interval,
    check_paper_table4,
    compare_variant,
    comparison_pairs,
    holm,
    paired_ttest,
    reproduce,
    signed_rank_test,
    t_rounding_bound,
)
from pipeline.files.paper_tables import load_paper_tables

PAPER = load_paper_tables(Path(__file__).resolve().parents[1] / "reference/paper_tables.yaml")


def test_paired_ttest_by_hand() -> None:
    # d = (1, 2, 3): mean 2, sd 1, t = 2 / (1 / sqrt 3).
    test = paired_ttest([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert (test.n, test.df, test.mean_diff) == (3, 2, 2.0)
    assert test.t == pytest.approx(2.0 * math.sqrt(3.0))
    assert test.p == pytest.approx(2.0 * stats.t.sf(2.0 * math.sqrt(3.0), 2))


@pytest.mark.parametrize("seed", range(20))
def test_paired_ttest_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 13))
    a, b = rng.uniform(-1.0, 1.0, n), rng.uniform(-1.0, 1.0, n)
    ours = paired_ttest(a, b)
    theirs = stats.ttest_rel(a, b)
    assert (ours.n, ours.df) == (n, n - 1)
    assert ours.t == pytest.approx(theirs.statistic, rel=1e-9)
    assert ours.p == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-15)


def test_paired_ttest_on_the_papers_table3_matches_scipy() -> None:
    for dataset, columns in PAPER.means.items():
        for variant in ("v1", "v2"):
            ours = paired_ttest(columns[variant], columns["baseline"])
            theirs = stats.ttest_rel(columns[variant], columns["baseline"])
            assert (ours.n, ours.df) == (6, 5), dataset
            assert ours.t == pytest.approx(theirs.statistic, rel=1e-9)
            assert ours.p == pytest.approx(theirs.pvalue, rel=1e-9)


def test_paired_ttest_undefined_cases_say_why() -> None:
    one = paired_ttest([0.3], [0.1])
    assert (one.t, one.p, one.n) == (None, None, 1) and one.mean_diff == pytest.approx(0.2)
    assert "one pair" in one.undefined
    constant = paired_ttest([0.5, 0.75, 1.0], [0.25, 0.5, 0.75])
    assert constant.t is None and "zero variance" in constant.undefined


def test_paired_samples_are_checked() -> None:
    with pytest.raises(ValueError, match="equal length"):
        paired_ttest([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        signed_rank_test([1.0, float("nan")], [1.0, 2.0])


def test_signed_rank_by_hand() -> None:
    # d = (1, -2, 3, 4, 0): the zero is dropped, ranks 1..4, W+ = 1 + 3 + 4 = 8,
    # mean m(m+1)/4 = 5, variance m(m+1)(2m+1)/24 = 7.5.
    test = signed_rank_test([1.0, -2.0, 3.0, 4.0, 0.0], [0.0] * 5)
    assert (test.n, test.nonzero, test.w_plus) == (5, 4, 8.0)
    assert test.z == pytest.approx(3.0 / math.sqrt(7.5))
    # Four non-zero pairs, no ties: the exact null distribution of W+ over the 2^4 sign patterns;
    # W+ >= 8 for the rank sets {1,3,4}, {2,3,4}, {1,2,3,4}, so p = 2 * 3 / 16.
    assert test.p == pytest.approx(6 / 16)


def test_small_samples_take_the_exact_signed_rank_distribution() -> None:
    # One user of 943 differs: exact p 1 (the normal approximation said 0.3173).
    assert signed_rank_test([0.3] + [0.0] * 942, [0.0] * 943).p == pytest.approx(1.0)
    # Five of five pairs positive: exact p 2 / 32 = 0.0625 (the approximation said 0.043).
    assert signed_rank_test([1.0, 2.0, 3.0, 4.0, 5.0], [0.0] * 5).p == pytest.approx(0.0625)


def test_signed_rank_matches_scipy_with_ties_and_zeros() -> None:
    rng = np.random.default_rng(7)
    # Per-user NDCG-like values: many exact zeros and ties, as real per-user metrics have.
    ranks_a, ranks_b = rng.integers(1, 25, 300), rng.integers(1, 30, 300)
    a = np.where(ranks_a <= 10, 1.0 / np.log2(ranks_a + 1.0), 0.0)
    b = np.where(ranks_b <= 10, 1.0 / np.log2(ranks_b + 1.0), 0.0)
    ours = signed_rank_test(a, b)
    theirs = stats.wilcoxon(a, b, zero_method="wilcox", correction=False, method="approx")
    m = ours.nonzero
    assert m == int(np.count_nonzero(a - b))
    assert min(ours.w_plus, m * (m + 1) / 2 - ours.w_plus) == pytest.approx(theirs.statistic)
    assert ours.p == pytest.approx(theirs.pvalue, rel=1e-9)
    assert np.sign(ours.z) == np.sign(np.mean(a - b))


def test_signed_rank_all_tied_is_undefined() -> None:
    test = signed_rank_test([0.0, 0.5, 1.0], [0.0, 0.5, 1.0])
    assert (test.nonzero, test.p, test.z) == (0, None, None) and "tied" in test.undefined


def test_rounding_bound_is_tight_to_first_order() -> None:
    a, b = PAPER.means["amazon-beauty"]["v1"], PAPER.means["amazon-beauty"]["baseline"]
    half = PAPER_HALF_UNIT
    bound = t_rounding_bound(a, b, half)
    t = paired_ttest(a, b).t
    diff = np.subtract(a, b)
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(200):
        shift = rng.choice([-2.0 * half, 2.0 * half], size=diff.size)
        worst = max(worst, abs(paired_ttest(diff + shift, np.zeros_like(diff)).t - t))
    assert bound * 0.5 < worst <= bound * 1.02


def test_the_papers_table4_is_its_table3_with_v1_and_v2_labels_swapped() -> None:
    checks = check_paper_table4(PAPER.means, PAPER.printed_table4, PAPER_HALF_UNIT)
    assert len(checks) == 6
    for check in checks:
        other = {"v1": "v2", "v2": "v1"}[check.printed_label]
        assert check.matched == (other,), (check.dataset, check.printed_label)
        recomputed = next(c for c in check.candidates if c.variant == other)
        assert abs(recomputed.test.t - check.printed.t) <= recomputed.t_bound
        assert 100.0 * recomputed.test.mean_diff == pytest.approx(check.printed.avg_diff_pp, abs=0.01)


def test_a_misprinted_row_is_not_reproduced() -> None:
    a, b = PAPER.means["ml-1m"]["v1"], PAPER.means["ml-1m"]["baseline"]
    good = PAPER.printed_table4["ml-1m"]["v2"]
    assert reproduce("v1", a, b, good, PAPER_HALF_UNIT).matches
    for bad in (
        PrintedTTest(good.t + 0.2, good.p, good.avg_diff_pp),
        PrintedTTest(good.t, good.p + 0.001, good.avg_diff_pp),
        PrintedTTest(good.t, good.p, good.avg_diff_pp + 0.02),
    ):
        assert not reproduce("v1", a, b, bad, PAPER_HALF_UNIT).matches


def test_results_survive_a_json_round_trip() -> None:
    comparison = VariantComparison(
        "ml-100k",
        "v2",
        paired_ttest([0.2, 0.3, 0.5], [0.1, 0.25, 0.3]),
        {"HR@10": PairedTTest(1, 0.1, None, None, "one pair: no variance to test against")},
        SignedRankTest(3, 2, 0.1, 3.0, 1.34, 0.18),
    )
    assert VariantComparison.from_dict(json.loads(json.dumps(comparison.to_dict()))) == comparison
    check = check_paper_table4(PAPER.means, PAPER.printed_table4, PAPER_HALF_UNIT)[0]
    assert PaperRowCheck.from_dict(json.loads(json.dumps(check.to_dict()))) == check


def test_comparison_pairs_test_every_model_against_diffurec_and_the_control_once() -> None:
    assert comparison_pairs(("baseline", "v1", "v2")) == (("v1", "baseline"), ("v2", "baseline"))
    assert comparison_pairs(("baseline", "v1", "v2", "control")) == (
        ("v1", "baseline"), ("v2", "baseline"), ("baseline", "control"), ("v1", "control"), ("v2", "control")
    )
    # DiffuRec vs the control, never the control vs DiffuRec, whatever the order of variants.
    assert comparison_pairs(("control", "baseline")) == (("baseline", "control"),)
    assert comparison_pairs(("v2", "control")) == (("v2", "control"),)
    assert comparison_pairs(("v1", "v2")) == () and comparison_pairs(("control",)) == ()


def test_compare_variant_names_its_reference_and_survives_json() -> None:
    values = {"HR@10": (0.2, 0.3, 0.5), "NDCG@10": (0.1, 0.2, 0.2)}
    control = {"HR@10": (0.1, 0.25, 0.3), "NDCG@10": (0.05, 0.1, 0.15)}
    a, b = np.array([0.5, 0.0, 1.0, 0.2]), np.array([0.25, 0.0, 0.5, 0.3])
    # Positional, as benchmarks/device/grid_report.py calls it: the reference is DiffuRec.
    assert compare_variant("ml-100k", "v1", values, control, a, b).reference == "baseline"
    test = compare_variant("ml-100k", "v1", values, control, a, b, reference="control")
    assert test.reference == "control"
    assert test.per_metric["HR@10"] == paired_ttest(values["HR@10"], control["HR@10"])
    assert test.metric_means.t == pytest.approx(paired_ttest([1.0 / 3, 1.0 / 6], [0.65 / 3, 0.1]).t)
    assert test.per_user == signed_rank_test(a, b)
    raw = json.loads(json.dumps(test.to_dict()))
    assert raw["reference"] == "control" and VariantComparison.from_dict(raw) == test
    # A results.json from before the control compared with DiffuRec only.
    del raw["reference"]
    assert VariantComparison.from_dict(raw).reference == "baseline"


def test_the_papers_table4_check_ignores_columns_of_models_not_in_the_paper() -> None:
    means = {dataset: {**columns, "control": columns["v1"]} for dataset, columns in PAPER.means.items()}
    checks = check_paper_table4(means, PAPER.printed_table4, PAPER_HALF_UNIT)
    assert all({c.variant for c in check.candidates} == {"v1", "v2"} for check in checks)


def test_holm_by_hand() -> None:
    # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> kept at 0.06 (monotone).
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # An undefined test is no member of the family: m = 2 here, and it stays None.
    assert holm([0.02, None, 0.6]) == pytest.approx([0.04, None, 0.6])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []


def test_bootstrap_interval_is_seeded_and_covers_the_mean() -> None:
    rng = np.random.default_rng(3)
    diff = rng.normal(0.2, 1.0, 400)
    first = bootstrap_interval(diff, resamples=1000, seed=5)
    assert bootstrap_interval(diff, resamples=1000, seed=5) == first
    assert bootstrap_interval(diff, resamples=1000, seed=6) != first
    low, high = first
    # The percentile interval of a mean is close to mean ± 1.96 standard errors.
    half = 1.96 * diff.std(ddof=1) / math.sqrt(diff.size)
    assert low < diff.mean() < high
    assert (high - low) == pytest.approx(2 * half, rel=0.15)


def test_bootstrap_interval_of_a_constant_is_its_point() -> None:
    assert bootstrap_interval(np.full(50, 0.25), resamples=200, seed=0) == (0.25, 0.25)
    with pytest.raises(ValueError, match="one non-empty"):
        bootstrap_interval(np.zeros((2, 3)), resamples=500, seed=0)

