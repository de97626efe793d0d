"""The verdict: every claim of the paper (diffurec.report.claims) tested on one run's evidence
(diffurec.report.evidence), one row per claim, dataset and compared model or baseline, each row's
status computed from its tests, never written by hand.

The tests. Per user, paired: the mean of the per-user differences (each user's metric averaged over
seeds first, as Table 4c does), its percentile bootstrap interval and the Wilcoxon signed-rank p.
Per seed, paired by seed (at least MIN_SEEDS seeds): the paired t-test and Student's interval.
Head vs long-tail users, two independent groups: a two-sample bootstrap interval and the
Mann-Whitney U p. Every p of the verdict is adjusted by Holm over its family: every distinct test
with a p-value (a test that two claims share counts once).

A test's status: supported, its effect in the claimed direction with Holm p < alpha; contradicted,
the opposite direction with Holm p < alpha; not supported otherwise (a test whose mean and rank
statistic point opposite ways has no direction); not testable here, with the reason, when a part it
needs is missing. Two claims are no significance test: C4b ("the difference was minimal") is an
equivalence, supported when the 95% interval lies within ± the margin and contradicted when it lies
wholly outside; C9's printed numbers are compatible with ours when within our mean ± 1 std over
seeds (Benigni, Ferrari Dacrema and Jannach 2025), supported when compatible and our spread stable.
A row aggregates its tests: any contradicted, contradicted; all supported, supported; any not
supported, not supported; else (some not testable, none failed) not testable here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from diffurec.config import VerdictConfig
from diffurec.datasets import DATASET_NAMES
from diffurec.report.claims import CLAIMS, Claim
from diffurec.report.evidence import (
    ABLATION,
    BASELINE_RUN,
    ENSEMBLE,
    HEAD_ITEMS,
    ONE_STEP,
    PAPER,
    RANKS,
    TRAINING,
    ZERO_XT,
    DatasetEvidence,
    seed_metric,
    user_metric,
)
from diffurec.report.significance import (
    PER_USER_K,
    bootstrap_interval,
    holm,
    paired_ttest,
    rank_sum_test,
    signed_rank_test,
    t_interval,
)
from diffurec.report.tables import PaperTables, metric_names
from diffurec.variants import BASELINE, CONTROL, PAPER_VARIANTS, VARIANT_NAMES

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
CONTRADICTED = "contradicted"
NOT_TESTABLE = "not testable here"
# A per-seed t-test on fewer seeds has one or no degree of freedom to estimate the spread from.
MIN_SEEDS = 3
# The paper's metrics, computed from the ranks whatever eval.ks lists, and its headline one.
PAPER_METRICS = metric_names((5, 10, 20))
HEADLINE = f"NDCG@{PER_USER_K}"
SIX_METRICS = "mean of the six metrics"
# The direction a claim predicts for (compared - reference).
HIGHER, LOWER = 1, -1
# The paper's Table 5 prints V2's numbers as DiffuRecSys's.
DIFFURECSYS = "v2"
MODIFIED = ("v1", "v2")
# Parts of the evidence a row needs, as `DatasetEvidence.unreadable` keys them.
Parts = tuple[tuple[str, ...], ...]

PER_USER = "Wilcoxon signed-rank, per user"
PER_SEED = "paired t-test, per seed"
GROUPS = "Mann-Whitney U, head vs long-tail users"
EQUIVALENCE = "equivalence, 95% interval within ± margin"
COMPATIBILITY = "within our mean ± 1 std over seeds"


@dataclass(frozen=True)
class Compatibility:
    """C9, one printed number: the paper's value, our mean and std over seeds, and the verdict on them."""

    paper: float
    mean: float
    std: float
    cv_threshold: float

    @property
    def compatible(self) -> bool:
        return abs(self.mean - self.paper) <= self.std

    @property
    def cv(self) -> float:
        return self.std / self.mean if self.mean > 0 else math.inf

    @property
    def stable(self) -> bool:
        return self.cv < self.cv_threshold


@dataclass(frozen=True)
class Test:
    """One comparison. `effect` and `interval` are in `unit`: "pp" (percentage points, 100 x a
    metric difference) or "ratio"; `paper` is the paper's own value of the effect, in that unit."""

    # Which test it is, across the whole verdict: two claims that share a test share its key.
    key: str
    measure: str
    method: str
    direction: int
    # The sign the data give the effect: +1, -1, or 0 (none, or the mean and the test statistic disagree).
    sign: int = 0
    effect: float | None = None
    interval: tuple[float, float] | None = None
    p: float | None = None
    unit: str = "pp"
    # Effect as % of the reference's mean.
    relative: float | None = None
    paper: float | None = None
    note: str = ""
    # Set: not testable here, and why.
    reason: str | None = None
    # Equivalence (C4b): the largest effect, either side, that counts as no large effect.
    margin: float | None = None
    compatibility: Compatibility | None = None


@dataclass(frozen=True)
class Row:
    """One claim on one dataset, about one model or baseline, and the tests that decide it."""

    claim: Claim
    dataset: str
    # The model or baseline the row is about; "" when the claim is about the dataset as a whole.
    subject: str
    # What is compared, for the reader, e.g. "V1 − DiffuRec".
    compared: str
    tests: tuple[Test, ...] = ()
    # Set: the whole row is not testable here, and why.
    reason: str | None = None
    # The test that stands for the row in the summary and in metrics.json.
    headline: int = 0

    @property
    def id(self) -> str:
        return "/".join(part for part in (self.claim.id, self.dataset, self.subject) if part)


@dataclass(frozen=True)
class Verdict:
    rows: tuple[Row, ...]
    # Test key -> Holm-adjusted p, over every distinct test with a p-value.
    p_holm: Mapping[str, float]
    settings: VerdictConfig

    def status(self, test: Test) -> str:
        if test.reason is not None:
            return NOT_TESTABLE
        if test.compatibility is not None:
            return SUPPORTED if test.compatibility.compatible and test.compatibility.stable else NOT_SUPPORTED
        if test.margin is not None:
            return _equivalence_status(test.interval, test.margin)
        p = self.p_holm.get(test.key)
        if p is None or p >= self.settings.alpha or test.sign == 0:
            return NOT_SUPPORTED
        return SUPPORTED if test.sign == test.direction else CONTRADICTED

    def row_status(self, row: Row) -> str:
        if row.reason is not None:
            return NOT_TESTABLE
        statuses = {self.status(test) for test in row.tests}
        for status in (CONTRADICTED, NOT_SUPPORTED, NOT_TESTABLE):
            if status in statuses:
                return status
        return SUPPORTED

    def row_reasons(self, row: Row) -> list[str]:
        """Why a row is not testable: its own reason, or its untestable tests' (each once)."""
        if row.reason is not None:
            return [row.reason]
        return list(dict.fromkeys(test.reason for test in row.tests if test.reason is not None))


def judge(evidence: Sequence[DatasetEvidence], paper: PaperTables | None, settings: VerdictConfig) -> Verdict:
    """Every claim on every dataset of `evidence`, claims in CLAIMS order, datasets in the given order.
    `paper`: the paper's printed numbers, None when they could not be read (evidence says why)."""
    rows = []
    for claim in CLAIMS:
        for dataset in evidence:
            rows.extend(_ROWS[claim.id](_Context(claim, dataset, paper, settings)))
    family: dict[str, float] = {}
    for row in rows:
        for test in row.tests:
            if test.p is not None and test.reason is None:
                if family.setdefault(test.key, test.p) != test.p:
                    raise ValueError(f"two tests share the key {test.key!r} but not their p-value")
    return Verdict(tuple(rows), dict(zip(family, holm(list(family.values())))), settings)


@dataclass(frozen=True)
class _Context:
    """What every row of one claim on one dataset is built from."""

    claim: Claim
    ev: DatasetEvidence
    paper: PaperTables | None
    settings: VerdictConfig

    def row(self, subject: str, compared: str, tests: Sequence[Test] = (), reason: str | None = None,
            headline: int = 0) -> Row:
        return Row(self.claim, self.ev.dataset, subject, compared, tuple(tests), reason, headline)

    def missing(self, *parts: tuple[str, ...]) -> str | None:
        """The reason the first of `parts` that the evidence lacks is missing; None if it has them all."""
        have = {
            RANKS: self.ev.ranks,
            ENSEMBLE: self.ev.ensembles,
            TRAINING: self.ev.training,
            BASELINE_RUN: self.ev.baselines,
        }
        for part in parts:
            kind, *names = part
            if kind == ABLATION:
                present = names[1] in self.ev.ablations.get(names[0], {})
            elif kind == HEAD_ITEMS:
                present = self.ev.head is not None
            elif kind == PAPER:
                present = self.paper is not None
            else:
                present = names[0] in have[kind]
            if not present:
                return self.ev.reason(*part)
        return None

    def interval(self, *samples: np.ndarray) -> tuple[float, float]:
        return bootstrap_interval(
            samples, resamples=self.settings.bootstrap_resamples, seed=self.settings.bootstrap_seed
        )

    def paired_users(self, compared: str, measure: str, a: np.ndarray, b: np.ndarray, paper: float | None = None
                     ) -> Test:
        """Per-user values `a` of the compared model against `b` of the reference, users aligned; the
        claim: `a` is higher."""
        diff = a - b
        mean = float(diff.mean())
        test = signed_rank_test(a, b)
        low, high = self.interval(diff)
        return Test(
            key=f"{self.ev.dataset}/{compared}/{measure}/users",
            measure=measure,
            method=PER_USER,
            direction=HIGHER,
            sign=_agreed(mean, test.z),
            effect=100.0 * mean,
            interval=(100.0 * low, 100.0 * high),
            p=test.p,
            relative=_relative(mean, b),
            paper=paper,
            note=test.undefined or "",
        )

    def paired_seeds(self, compared: str, measure: str, a: np.ndarray, b: np.ndarray, scale: str = "pp",
                     direction: int = HIGHER, paper: float | None = None, note: str = "") -> Test:
        """Per-seed values of the compared model and the reference, seeds aligned. "pp": metric
        values, effect in percentage points; "ratio": log values, effect as the ratio exp(mean)."""
        diff = a - b
        mean = float(diff.mean())
        show = (lambda x: 100.0 * x) if scale == "pp" else math.exp
        test = paired_ttest(a, b)
        seeds = len(self.ev.seeds)
        reason = None
        if seeds < MIN_SEEDS:
            reason = f"{seeds} seed{'s' if seeds > 1 else ''}: a per-seed t-test needs at least {MIN_SEEDS}"
        interval = t_interval(a, b)
        return Test(
            key=f"{self.ev.dataset}/{compared}/{measure}/seeds",
            measure=measure,
            method=PER_SEED,
            direction=direction,
            sign=_sign(mean),
            effect=show(mean),
            interval=None if interval is None or reason else (show(interval[0]), show(interval[1])),
            p=None if reason else test.p,
            unit=scale,
            relative=_relative(mean, b) if scale == "pp" else None,
            paper=paper,
            note="; ".join(filter(None, [note, None if reason else test.undefined])),
            reason=reason,
        )


def _agreed(mean: float, statistic: float | None) -> int:
    """The sign of the mean difference when the rank statistic has the same sign, else 0."""
    if statistic is None or _sign(mean) != _sign(statistic):
        return 0
    return _sign(mean)


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def _relative(mean_diff: float, reference: np.ndarray) -> float | None:
    base = float(np.mean(reference))
    return 100.0 * mean_diff / base if base > 0 else None


def _equivalence_status(interval: tuple[float, float] | None, margin: float) -> str:
    if interval is None:
        return NOT_SUPPORTED
    low, high = interval
    if -margin < low and high < margin:
        return SUPPORTED
    if low > margin or high < -margin:
        return CONTRADICTED
    return NOT_SUPPORTED


def _name(variant: str) -> str:
    return VARIANT_NAMES.get(variant, variant).split(" (")[0]


def _versus(a: str, b: str) -> str:
    return f"{_name(a)} − {_name(b)}"


def _six_metric_mean(values: Callable[[np.ndarray, str], np.ndarray], ranks: np.ndarray) -> np.ndarray:
    """The mean over PAPER_METRICS of `values` (user_metric or seed_metric) of `ranks`."""
    return np.mean([values(ranks, metric) for metric in PAPER_METRICS], axis=0)


def _paper_mean_difference(cx: _Context, variant: str) -> float | None:
    """The paper's own Table 3 difference, variant − DiffuRec, averaged over its metrics (pp):
    what its Table 4 prints as Avg. Diff."""
    means = cx.paper.means.get(cx.ev.dataset, {}) if cx.paper is not None else {}
    if variant not in means or BASELINE not in means:
        return None
    return 100.0 * float(np.mean(np.subtract(means[variant], means[BASELINE])))


def _each(
    cx: _Context,
    subjects: Sequence[str],
    compared: Callable[[str], str],
    needs: Callable[[str], Parts],
    build: Callable[[_Context, str, str], Row],
) -> list[Row]:
    """One row per subject: not testable when the evidence lacks a part that `needs` names, else
    what `build(cx, subject, compared(subject))` makes of it."""
    rows = []
    for subject in subjects:
        label = compared(subject)
        reason = cx.missing(*needs(subject))
        rows.append(cx.row(subject, label, reason=reason) if reason else build(cx, subject, label))
    return rows


def _against_diffurec(variant: str) -> str:
    return _versus(variant, BASELINE)


def _ranks_and_diffurecs(variant: str) -> Parts:
    return (RANKS, variant), (RANKS, BASELINE)


def _c1(cx: _Context) -> list[Row]:
    return _each(cx, MODIFIED, _against_diffurec, _ranks_and_diffurecs, _c1_row)


def _c1_row(cx: _Context, variant: str, compared: str) -> Row:
    a, b = cx.ev.ranks[variant], cx.ev.ranks[BASELINE]
    tests = [cx.paired_users(compared, SIX_METRICS, _six_metric_mean(user_metric, a), _six_metric_mean(user_metric, b),
                             paper=_paper_mean_difference(cx, variant))]
    tests += [cx.paired_users(compared, m, user_metric(a, m), user_metric(b, m)) for m in PAPER_METRICS]
    return cx.row(variant, compared, tests)


def _c2(cx: _Context) -> list[Row]:
    return _each(cx, MODIFIED, _against_diffurec, _ranks_and_diffurecs, _c2_row)


def _c2_row(cx: _Context, variant: str, compared: str) -> Row:
    a, b = (_six_metric_mean(seed_metric, cx.ev.ranks[v]) for v in (variant, BASELINE))
    return cx.row(variant, compared, [cx.paired_seeds(compared, SIX_METRICS, a, b,
                                                      paper=_paper_mean_difference(cx, variant))])


def _c3(cx: _Context) -> list[Row]:
    return _each(cx, MODIFIED, _against_diffurec, lambda v: ((TRAINING, v), (TRAINING, BASELINE)), _c3_row)


def _c3_row(cx: _Context, variant: str, compared: str) -> Row:
    ours, reference = cx.ev.training[variant], cx.ev.training[BASELINE]
    if min(ours.time_to_best_s + reference.time_to_best_s) <= 0:
        return cx.row(variant, compared, reason="a time to the best epoch is not positive")
    epochs = np.mean(ours.best_epoch), np.mean(reference.best_epoch)
    note = f"best epoch {epochs[0]:.1f} vs {epochs[1]:.1f} (ratio {epochs[0] / epochs[1]:.3f}); seconds measured"
    test = cx.paired_seeds(compared, "time to the best epoch", np.log(ours.time_to_best_s),
                           np.log(reference.time_to_best_s), scale="ratio", direction=LOWER,
                           paper=_paper_time_ratio(cx, variant), note=note)
    return cx.row(variant, compared, [test])


def _paper_time_ratio(cx: _Context, variant: str) -> float | None:
    """Table 2's seconds of `variant` over DiffuRec's on this dataset."""
    seconds = cx.paper.convergence_s if cx.paper is not None else {}
    ours, reference = (seconds.get(v, {}).get(cx.ev.dataset) for v in (variant, BASELINE))
    return None if ours is None or reference is None else ours / reference


def _headline_rows(cx: _Context, compared: str, reference: str) -> list[Row]:
    """The dataset's one row: `compared` against `reference` on per-user NDCG@10."""
    def build(cx: _Context, subject: str, label: str) -> Row:
        a, b = (user_metric(cx.ev.ranks[v], HEADLINE) for v in (compared, reference))
        return cx.row(subject, label, [cx.paired_users(label, HEADLINE, a, b)])

    return _each(cx, ("",), lambda _: _versus(compared, reference),
                 lambda _: ((RANKS, compared), (RANKS, reference)), build)


def _c4a(cx: _Context) -> list[Row]:
    return _headline_rows(cx, "v1", BASELINE)


def _c4b(cx: _Context) -> list[Row]:
    return _each(cx, ("",), lambda _: _versus("v2", "v1"), lambda _: ((RANKS, "v2"), (RANKS, "v1")), _c4b_row)


def _c4b_row(cx: _Context, subject: str, compared: str) -> Row:
    a, b = (user_metric(cx.ev.ranks[v], HEADLINE) for v in ("v2", "v1"))
    low, high = cx.interval(a - b)
    mean = float(np.mean(a - b))
    return cx.row(subject, compared, [Test(
        key=f"{cx.ev.dataset}/{compared}/{HEADLINE}/equivalence",
        measure=HEADLINE,
        method=EQUIVALENCE,
        direction=0,
        sign=_sign(mean),
        effect=100.0 * mean,
        interval=(100.0 * low, 100.0 * high),
        relative=_relative(mean, b),
        margin=100.0 * cx.settings.equivalence_margin * float(b.mean()),
        note=f"margin ± {cx.settings.equivalence_margin:.0%} of V1's mean",
    )])


def _c5(cx: _Context) -> list[Row]:
    return _each(cx, cx.ev.baseline_names, lambda name: f"{_name(DIFFURECSYS)} − {name}",
                 lambda name: ((RANKS, DIFFURECSYS), (BASELINE_RUN, name)), _c5_row)


def _c5_row(cx: _Context, name: str, compared: str) -> Row:
    baseline = cx.ev.baselines[name]
    if not baseline.converged:
        return cx.row(name, compared, reason=f"{name} did not converge: its record does not show early stopping, "
                                             "rather than its epoch budget, ending its training")
    a, b = user_metric(cx.ev.ranks[DIFFURECSYS], HEADLINE), user_metric(baseline.ranks, HEADLINE)
    return cx.row(name, compared, [cx.paired_users(compared, HEADLINE, a, b)])


def _c6(cx: _Context) -> list[Row]:
    return _each(cx, ("",), lambda _: f"head − long-tail test items, {_name(DIFFURECSYS)}",
                 lambda _: ((RANKS, DIFFURECSYS), (HEAD_ITEMS,)), _c6_row)


def _c6_row(cx: _Context, subject: str, compared: str) -> Row:
    values = user_metric(cx.ev.ranks[DIFFURECSYS], HEADLINE)
    head, tail = values[cx.ev.head], values[~cx.ev.head]
    if head.size < 2 or tail.size < 2:
        return cx.row(subject, compared, reason=f"{head.size} head and {tail.size} long-tail test users: "
                                                "a comparison needs at least 2 in each group")
    test = rank_sum_test(head, tail)
    mean = float(head.mean() - tail.mean())
    low, high = cx.interval(head, tail)
    shift = None if test.u is None else test.u - test.n_a * test.n_b / 2.0
    return cx.row(subject, compared, [Test(
        key=f"{cx.ev.dataset}/{compared}/{HEADLINE}/groups",
        measure=HEADLINE,
        method=GROUPS,
        direction=HIGHER,
        sign=_agreed(mean, shift),
        effect=100.0 * mean,
        interval=(100.0 * low, 100.0 * high),
        p=test.p,
        relative=_relative(mean, tail),
        note="; ".join(filter(None, [f"{head.size} head, {tail.size} long-tail users", test.undefined])),
    )])


def _c7(cx: _Context) -> list[Row]:
    return _each(cx, PAPER_VARIANTS, lambda v: f"ensemble − seed mean, {_name(v)}",
                 lambda v: ((RANKS, v), (ENSEMBLE, v)), _c7_row)


def _c7_row(cx: _Context, variant: str, compared: str) -> Row:
    if len(cx.ev.seeds) < 2:
        return cx.row(variant, compared, reason="1 seed: the ensemble of one seed is that seed's run")
    a, b = user_metric(cx.ev.ensembles[variant], HEADLINE), user_metric(cx.ev.ranks[variant], HEADLINE)
    return cx.row(variant, compared, [cx.paired_users(compared, HEADLINE, a, b)])


def _c8a(cx: _Context) -> list[Row]:
    return _headline_rows(cx, BASELINE, CONTROL)


def _c8b(cx: _Context) -> list[Row]:
    return _each(cx, PAPER_VARIANTS, lambda v: f"all reverse steps − ablation, {_name(v)}", lambda v: ((RANKS, v),),
                 _c8b_row)


def _c8b_row(cx: _Context, variant: str, label: str) -> Row:
    full = user_metric(cx.ev.ranks[variant], HEADLINE)
    tests = []
    for setting in (ONE_STEP, ZERO_XT):
        compared, measure = f"all reverse steps − {setting}, {_name(variant)}", f"{HEADLINE} vs {setting}"
        reason = cx.missing((ABLATION, variant, setting))
        if reason:
            tests.append(Test(f"{cx.ev.dataset}/{compared}", measure, PER_USER, HIGHER, reason=reason))
        else:
            ablated = user_metric(cx.ev.ablations[variant][setting], HEADLINE)
            tests.append(cx.paired_users(compared, measure, full, ablated))
    return cx.row(variant, label, tests)


def _c9(cx: _Context) -> list[Row]:
    return _each(cx, PAPER_VARIANTS, lambda v: f"{_name(v)}: ours vs printed", lambda v: ((PAPER,), (RANKS, v)),
                 _c9_row)


def _c9_row(cx: _Context, variant: str, compared: str) -> Row:
    printed = cx.paper.means.get(cx.ev.dataset, {}).get(variant)
    reason = None
    if printed is None:
        dataset = DATASET_NAMES.get(cx.ev.dataset, cx.ev.dataset)
        reason = f"the paper prints no Table 3 numbers for {_name(variant)} on {dataset}"
    elif cx.ev.setup_differences:
        keys = ", ".join(difference.key for difference in cx.ev.setup_differences)
        reason = f"not at the paper's configuration (section 6.2): this run differs in {keys}"
    elif len(cx.ev.seeds) < 2:
        reason = "1 seed: no spread over seeds to compare a printed number with"
    if reason:
        return cx.row(variant, compared, reason=reason)
    values = dict(zip(cx.paper.metrics, printed))
    tests = []
    for metric in (m for m in PAPER_METRICS if m in values):
        ours = seed_metric(cx.ev.ranks[variant], metric)
        check = Compatibility(values[metric], float(ours.mean()), float(ours.std(ddof=1)), cx.settings.cv_threshold)
        tests.append(Test(
            key=f"{cx.ev.dataset}/{compared}/{metric}",
            measure=metric,
            method=COMPATIBILITY,
            direction=0,
            effect=100.0 * (check.mean - check.paper),
            compatibility=check,
        ))
    headline = next((i for i, test in enumerate(tests) if test.measure == HEADLINE), 0)
    return cx.row(variant, compared, tests, headline=headline)


_ROWS: dict[str, Callable[[_Context], list[Row]]] = {
    "C1": _c1,
    "C2": _c2,
    "C3": _c3,
    "C4a": _c4a,
    "C4b": _c4b,
    "C5": _c5,
    "C6": _c6,
    "C7": _c7,
    "C8a": _c8a,
    "C8b": _c8b,
    "C9": _c9,
}
