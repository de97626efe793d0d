"""The verdict: every claim of the paper (diffurec.report.claims) tested on one run's evidence
(diffurec.report.evidence), one row per claim, dataset and compared model or baseline, each row's
status computed from its comparisons, never written by hand.

A comparison estimates one quantity, compared − reference, and gets its interval and p-value from
one procedure (diffurec.report.uncertainty): per test user and seed, a mean difference whose
uncertainty holds the seeds' variance too from 3 seeds on, and the users' alone below; per seed
(C2, C3), Student's paired t over seeds (scipy's `ttest_rel`). A claim on one dataset is one
family: its m decisive comparisons are read at alpha / m (Bonferroni), so that each interval shown
is at the family's level, 1 - alpha / m, and its status can be read off it:

- supported: the interval excludes zero on the side the claim predicts;
- contradicted: it excludes zero on the other side;
- no effect: it lies within ± the smallest effect of interest (verdict.smallest_effect, a fraction
  of the reference's mean);
- inconclusive: it covers zero and reaches past that smallest effect; the row says how many times
  this run's sample would settle it at the variance observed;
- not testable here, with the reason, when the run lacks what the comparison needs.

Two claims are no difference test. C4b ("the difference was minimal") is an equivalence: supported
when the interval lies within ± the smallest effect, contradicted when it lies wholly outside,
inconclusive otherwise. C9's printed numbers are compatible with ours when within our mean ± 1 std
over seeds (Benigni, Ferrari Dacrema and Jannach 2025): supported when compatible with a stable
spread, contradicted when not compatible, inconclusive when compatible but our spread is not stable.

A row aggregates its decisive comparisons: contradicted if any is; else no effect if any is; else
inconclusive if any is; else not testable if any is; else supported. A row without one is not
testable. Secondary comparisons (C1's per metric, C2's paper-style test over the six metric means)
are shown and decide nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

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
    metric_values,
    seed_metric,
)
from diffurec.report.significance import PER_USER_K
from diffurec.report.tables import PaperTables, metric_names
from diffurec.report.uncertainty import MIN_SEEDS, Estimate, Method, paired, sample_factor, two_groups
from diffurec.variants import BASELINE, CONTROL, PAPER_VARIANTS, VARIANT_NAMES

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
NO_EFFECT = "no effect"
INCONCLUSIVE = "inconclusive"
NOT_TESTABLE = "not testable here"
STATUSES = (SUPPORTED, CONTRADICTED, NO_EFFECT, INCONCLUSIVE, NOT_TESTABLE)
# How a row's decisive comparisons combine: the first status any of them has, in this order.
_ROW_ORDER = (CONTRADICTED, NO_EFFECT, INCONCLUSIVE, NOT_TESTABLE)
# The paper's metrics, computed from the ranks whatever eval.ks lists, and its headline one.
PAPER_METRICS = metric_names((5, 10, 20))
HEADLINE = f"NDCG@{PER_USER_K}"
SIX_METRICS = "mean of the six metrics"
# The direction a claim predicts for (compared − reference); 0: an equivalence or compatibility.
HIGHER, LOWER = 1, -1
# The paper's Table 5 prints V2's numbers as DiffuRecSys's.
DIFFURECSYS = "v2"
MODIFIED = ("v1", "v2")
# The sizes the paper states: C1's "average accuracy improvement of 1.5%" (percentage points of
# the six metrics, as its Table 4's Avg. Diff.), C3's time "reduced ... by approximately two-thirds".
PAPER_C1_GAIN = 0.015
PAPER_C3_RATIO = 1.0 / 3.0
# Parts of the evidence a row needs, as `DatasetEvidence.unreadable` keys them.
Parts = tuple[tuple[str, ...], ...]

# How a comparison's uncertainty is estimated, as the page names it.
VARIANCE = {
    Method.SEEDS_AND_USERS: "seeds and users",
    Method.USERS: "test users only",
    Method.SEEDS: "seeds (paired t)",
}
EQUIVALENCE = "equivalence"
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


@dataclass(frozen=True, eq=False)
class Sample:
    """What a comparison estimates from. Per user: `cells` [seeds, users] of compared − reference
    (or of one model's values, with `group` the users of the first of two groups). Per seed:
    `cells` [2, seeds], the compared model's values and the reference's."""

    cells: np.ndarray
    group: np.ndarray | None = None
    per_seed: bool = False

    def estimate(self, confidence: float, settings: VerdictConfig) -> Estimate:
        options = dict(confidence=confidence, resamples=settings.bootstrap_resamples, seed=settings.bootstrap_seed)
        if self.per_seed:
            return seed_estimate(self.cells[0], self.cells[1], confidence)
        if self.group is not None:
            return two_groups(self.cells, self.group, **options)
        return paired(self.cells, **options)


@dataclass(frozen=True)
class Test:
    """One comparison, in the units of its values: metric fractions, or log seconds (`ratio`: shown
    as exp). `estimate` is set by `judge`, at the level of the comparison's family."""

    measure: str
    direction: int
    sample: Sample | None = None
    # What is compared, when it is not all of its row's (C8b: each ablation).
    compared: str = ""
    estimate: Estimate | None = None
    # The smallest effect of interest, ± this, in the values' units.
    smallest: float | None = None
    # Decides its row (and counts in its family), or is shown beside it only.
    decisive: bool = True
    ratio: bool = False
    # What the paper states or prints for this effect, and what it is.
    paper: float | None = None
    paper_label: str = ""
    note: str = ""
    # Set: not testable here, and why.
    reason: str | None = None
    equivalence: bool = False
    compatibility: Compatibility | None = None


@dataclass(frozen=True)
class Row:
    """One claim on one dataset, about one model or baseline, and the comparisons that decide it."""

    claim: Claim
    dataset: str
    # The model or baseline the row is about; "" when the claim is about the dataset as a whole.
    subject: str
    # What is compared, for the reader, e.g. "V1 − DiffuRec".
    compared: str
    tests: tuple[Test, ...] = ()
    # Set: the whole row is not testable here, and why.
    reason: str | None = None

    @property
    def id(self) -> str:
        return "/".join(part for part in (self.claim.id, self.dataset, self.subject) if part)

    def label(self, test: Test) -> str:
        """What `test` compares, for the reader: its own label where it has one (C8b's ablations),
        else the row's."""
        return test.compared or self.compared

    @property
    def headline(self) -> Test | None:
        """The comparison that stands for the row in the summary and metrics.json: its first decisive one."""
        return next((test for test in self.tests if test.decisive), None)


@dataclass(frozen=True)
class Verdict:
    rows: tuple[Row, ...]
    # (claim id, dataset) -> m, the decisive comparisons of that family that have an estimate.
    families: dict[tuple[str, str], int]
    settings: VerdictConfig

    def family(self, row: Row) -> int:
        return self.families.get((row.claim.id, row.dataset), 0)

    def adjusted_p(self, row: Row, test: Test) -> float | None:
        """min(1, m p): below alpha exactly when the interval shown (at 1 - alpha / m) excludes zero."""
        if test.estimate is None or not test.decisive:
            return None
        return min(1.0, self.family(row) * test.estimate.p)

    def status(self, test: Test) -> str | None:
        """A decisive comparison's status; None for a secondary one."""
        if not test.decisive:
            return None
        if test.reason is not None:
            return NOT_TESTABLE
        if test.compatibility is not None:
            check = test.compatibility
            return (SUPPORTED if check.stable else INCONCLUSIVE) if check.compatible else CONTRADICTED
        low, high = test.estimate.interval
        within = -test.smallest < low and high < test.smallest
        if test.equivalence:
            if within:
                return SUPPORTED
            return CONTRADICTED if low > test.smallest or high < -test.smallest else INCONCLUSIVE
        if low > 0.0 or high < 0.0:
            return SUPPORTED if (1 if low > 0.0 else -1) == test.direction else CONTRADICTED
        return NO_EFFECT if within else INCONCLUSIVE

    def row_status(self, row: Row) -> str:
        if row.reason is not None or row.headline is None:
            return NOT_TESTABLE
        statuses = {self.status(test) for test in row.tests if test.decisive}
        return next((status for status in _ROW_ORDER if status in statuses), SUPPORTED)

    def deciding(self, row: Row) -> Test | None:
        """The comparison that gives the row its status (the first decisive one with that status), or
        the headline: what metrics.json reports for the row."""
        status = self.row_status(row)
        return next((t for t in row.tests if t.decisive and self.status(t) == status), row.headline)

    def row_reasons(self, row: Row) -> list[str]:
        """Why a row is not testable: its own reason, or its untestable comparisons' (each once)."""
        if row.reason is not None:
            return [row.reason]
        if row.headline is None:
            return ["no comparison of this claim applies to this run"]
        return list(dict.fromkeys(test.reason for test in row.tests if test.reason is not None))

    def needed(self, test: Test) -> float | None:
        """For an inconclusive comparison: how many times this run's sample would settle it."""
        if self.status(test) != INCONCLUSIVE or test.estimate is None:
            return None
        return sample_factor(test.estimate, test.smallest)


def seed_estimate(a: np.ndarray, b: np.ndarray, confidence: float) -> Estimate:
    """Student's paired t over seeds (scipy's ttest_rel) of mean(a − b): its interval at `confidence`
    and its two-sided p, one procedure. Without spread (every pair differs alike) the interval is
    the point, p 0 unless that is 0."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    effect = float(diff.mean())
    if np.ptp(diff) == 0.0:
        return Estimate(effect, (effect, effect), 1.0 if effect == 0.0 else 0.0, confidence, 0, diff.size,
                        Method.SEEDS)
    result = stats.ttest_rel(a, b)
    interval = result.confidence_interval(confidence_level=confidence)
    return Estimate(effect, (float(interval.low), float(interval.high)), float(result.pvalue), confidence, 0,
                    diff.size, Method.SEEDS)


def judge(evidence: Sequence[DatasetEvidence], paper: PaperTables | None, settings: VerdictConfig) -> Verdict:
    """Every claim on every dataset of `evidence`, claims in CLAIMS order, datasets in the given order.
    `paper`: the paper's printed numbers, None when they could not be read (evidence says why)."""
    rows: list[Row] = []
    families: dict[tuple[str, str], int] = {}
    for claim in CLAIMS:
        for dataset in evidence:
            built = _ROWS[claim.id](_Context(claim, dataset, paper, settings))
            estimable = [t for row in built for t in row.tests if t.decisive and t.sample is not None and not t.reason]
            m = len(estimable)
            families[claim.id, dataset.dataset] = m
            rows.extend(replace(row, tests=tuple(_estimated(t, m, settings) for t in row.tests)) for row in built)
    return Verdict(tuple(rows), families, settings)


def _estimated(test: Test, family: int, settings: VerdictConfig) -> Test:
    """The test with its estimate: decisive ones at the family's level, secondary ones at 1 - alpha."""
    if test.sample is None or test.reason is not None:
        return test
    alpha = settings.alpha / family if test.decisive else settings.alpha
    return replace(test, estimate=test.sample.estimate(1.0 - alpha, settings))


@dataclass(frozen=True)
class _Context:
    """What every row of one claim on one dataset is built from."""

    claim: Claim
    ev: DatasetEvidence
    paper: PaperTables | None
    settings: VerdictConfig

    def row(self, subject: str, compared: str, tests: Sequence[Test] = (), reason: str | None = None) -> Row:
        return Row(self.claim, self.ev.dataset, subject, compared, tuple(tests), reason)

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

    def users(self, compared: str, measure: str, a: np.ndarray, b: np.ndarray, *, direction: int = HIGHER,
              decisive: bool = True, paper: float | None = None, paper_label: str = "", note: str = "") -> Test:
        """Per-user values `a` of the compared model against `b` of the reference: arrays [seeds, users]
        paired by seed, or [users] (one run, e.g. a baseline's or an ensemble's, set against each seed)."""
        a, b = np.atleast_2d(a), np.atleast_2d(b)
        return Test(
            measure=measure,
            direction=direction,
            sample=Sample(a - b),
            compared=compared,
            smallest=self.settings.smallest_effect * float(b.mean()),
            decisive=decisive,
            paper=paper,
            paper_label=paper_label,
            note=note,
        )


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def _name(variant: str) -> str:
    return VARIANT_NAMES.get(variant, variant).split(" (")[0]


def _versus(a: str, b: str) -> str:
    return f"{_name(a)} − {_name(b)}"


def _values(ranks: np.ndarray, metric: str) -> np.ndarray:
    """Per-user `metric` of ranks [seeds, users] (or [users]), or the mean of the six for SIX_METRICS."""
    if metric == SIX_METRICS:
        return np.mean([metric_values(ranks, m) for m in PAPER_METRICS], axis=0)
    return metric_values(ranks, metric)


def _paper_mean_difference(cx: _Context, variant: str) -> float | None:
    """The paper's own Table 3 difference, variant − DiffuRec, averaged over its metrics: what its
    Table 4 prints as Avg. Diff."""
    means = cx.paper.means.get(cx.ev.dataset, {}) if cx.paper is not None else {}
    if variant not in means or BASELINE not in means:
        return None
    return float(np.mean(np.subtract(means[variant], means[BASELINE])))


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
    paper_table = _paper_mean_difference(cx, variant)
    note = "" if paper_table is None else f"the paper's Table 3 difference here: {100.0 * paper_table:+.3f} pp"
    tests = [cx.users(compared, SIX_METRICS, _values(a, SIX_METRICS), _values(b, SIX_METRICS),
                      paper=PAPER_C1_GAIN, paper_label="the paper's stated +1.5 points", note=note)]
    tests += [cx.users(compared, m, _values(a, m), _values(b, m), decisive=False) for m in PAPER_METRICS]
    return cx.row(variant, compared, tests)


def _c2(cx: _Context) -> list[Row]:
    return _each(cx, MODIFIED, _against_diffurec, _ranks_and_diffurecs, _c2_row)


def _c2_row(cx: _Context, variant: str, compared: str) -> Row:
    a, b = (np.mean([seed_metric(cx.ev.ranks[v], m) for m in PAPER_METRICS], axis=0) for v in (variant, BASELINE))
    reason = _too_few_seeds(cx)
    per_seed = Test(
        measure=f"{SIX_METRICS}, per seed",
        direction=HIGHER,
        sample=Sample(np.stack([a, b]), per_seed=True),
        smallest=cx.settings.smallest_effect * float(b.mean()),
        note="decides: one pair per seed, the replicates the paper's claim is about",
        reason=reason,
    )
    # The paper's own test (its Table 4): the six metric means of the seeds as six pairs.
    six_a = [float(seed_metric(cx.ev.ranks[variant], m).mean()) for m in PAPER_METRICS]
    six_b = [float(seed_metric(cx.ev.ranks[BASELINE], m).mean()) for m in PAPER_METRICS]
    paper_style = Test(
        measure="the six metric means (the paper's Table 4 test)",
        direction=HIGHER,
        sample=Sample(np.stack([six_a, six_b]), per_seed=True),
        decisive=False,
        paper=_paper_mean_difference(cx, variant),
        paper_label="the paper's Table 3 difference",
        note="shown only: its six pairs are nested cut-offs of the same rankings, not replicates",
    )
    return cx.row(variant, compared, [per_seed, paper_style])


def _too_few_seeds(cx: _Context) -> str | None:
    """Why a t-test over this run's seeds cannot be made (C2, C3), or None."""
    seeds = len(cx.ev.seeds)
    if seeds >= MIN_SEEDS:
        return None
    return f"{seeds} seed{'s' if seeds > 1 else ''}: a t-test over seeds needs at least {MIN_SEEDS}"


def _c3(cx: _Context) -> list[Row]:
    return _each(cx, MODIFIED, _against_diffurec, lambda v: ((TRAINING, v), (TRAINING, BASELINE)), _c3_row)


def _c3_row(cx: _Context, variant: str, compared: str) -> Row:
    ours, reference = cx.ev.training[variant], cx.ev.training[BASELINE]
    if min(ours.time_to_best_s + reference.time_to_best_s) <= 0:
        return cx.row(variant, compared, reason="a time to the best epoch is not positive")
    runs = len(ours.stopped_early) + len(reference.stopped_early)
    capped = ours.capped + reference.capped
    if runs and 2 * capped > runs:
        return cx.row(variant, compared, reason=f"{capped} of {runs} runs ended at the epoch cap: their time to the "
                                                "best epoch is censored (raise train.epochs)")
    reason = _too_few_seeds(cx)
    epochs = np.mean(ours.best_epoch), np.mean(reference.best_epoch)
    note = f"best epoch {epochs[0]:.1f} vs {epochs[1]:.1f}; seconds measured on this machine"
    if capped:
        note += f"; {capped} of {runs} runs ended at the epoch cap (time to best censored)"
    test = Test(
        measure="time to the best epoch",
        direction=LOWER,
        sample=Sample(np.log(np.stack([ours.time_to_best_s, reference.time_to_best_s])), per_seed=True),
        smallest=math.log1p(cx.settings.smallest_effect),
        ratio=True,
        paper=math.log(PAPER_C3_RATIO),
        paper_label="the paper's stated two-thirds less",
        note=note,
        reason=reason,
    )
    return cx.row(variant, compared, [test])


def _headline_rows(cx: _Context, compared: str, reference: str) -> list[Row]:
    """The dataset's one row: `compared` against `reference` on per-user NDCG@10, paired by seed."""
    def build(cx: _Context, subject: str, label: str) -> Row:
        a, b = (_values(cx.ev.ranks[v], HEADLINE) for v in (compared, reference))
        return cx.row(subject, label, [cx.users(label, HEADLINE, a, b)])

    return _each(cx, ("",), lambda _: _versus(compared, reference),
                 lambda _: ((RANKS, compared), (RANKS, reference)), build)


def _c4a(cx: _Context) -> list[Row]:
    return _headline_rows(cx, "v1", BASELINE)


def _c4b(cx: _Context) -> list[Row]:
    return _each(cx, ("",), lambda _: _versus("v2", "v1"), lambda _: ((RANKS, "v2"), (RANKS, "v1")), _c4b_row)


def _c4b_row(cx: _Context, subject: str, compared: str) -> Row:
    a, b = (_values(cx.ev.ranks[v], HEADLINE) for v in ("v2", "v1"))
    test = cx.users(compared, HEADLINE, a, b, direction=0,
                    note=f"minimal: within ± {cx.settings.smallest_effect:.0%} of V1's mean (verdict.smallest_effect)")
    return cx.row(subject, compared, [replace(test, equivalence=True)])


def _c5(cx: _Context) -> list[Row]:
    if not cx.ev.baseline_names:
        return [cx.row("", f"{_name(DIFFURECSYS)} − the re-run baselines",
                       reason="this run re-ran no baseline (params baselines is empty)")]
    return _each(cx, cx.ev.baseline_names, lambda name: f"{_name(DIFFURECSYS)} − {name}",
                 lambda name: ((RANKS, DIFFURECSYS), (BASELINE_RUN, name)), _c5_row)


def _c5_row(cx: _Context, name: str, compared: str) -> Row:
    baseline = cx.ev.baselines[name]
    if not baseline.converged:
        return cx.row(name, compared, reason=f"{name} did not converge: its record does not show early stopping, "
                                             "rather than its epoch budget, ending its training")
    ours = cx.ev.training.get(DIFFURECSYS)
    if ours is not None and ours.capped:
        return cx.row(name, compared, reason=f"{ours.capped} of {len(ours.stopped_early)} runs of "
                                             f"{_name(DIFFURECSYS)} ended at the epoch cap, not by early stopping")
    a, b = _values(cx.ev.ranks[DIFFURECSYS], HEADLINE), _values(baseline.ranks, HEADLINE)
    return cx.row(name, compared, [cx.users(compared, HEADLINE, a, b,
                                            note=f"{name}: one run; its training variance is not in the interval")])


def _c6(cx: _Context) -> list[Row]:
    return _each(cx, ("",), lambda _: f"head − long-tail test items, {_name(DIFFURECSYS)}",
                 lambda _: ((RANKS, DIFFURECSYS), (HEAD_ITEMS,)), _c6_row)


def _c6_row(cx: _Context, subject: str, compared: str) -> Row:
    values = np.atleast_2d(_values(cx.ev.ranks[DIFFURECSYS], HEADLINE))
    head = np.asarray(cx.ev.head, dtype=bool)
    heads, tails = int(head.sum()), int((~head).sum())
    if heads < 2 or tails < 2:
        return cx.row(subject, compared, reason=f"{heads} head and {tails} long-tail test users: "
                                                "a comparison needs at least 2 in each group")
    return cx.row(subject, compared, [Test(
        measure=HEADLINE,
        direction=HIGHER,
        sample=Sample(values, group=head),
        smallest=cx.settings.smallest_effect * float(values[:, ~head].mean()),
        note=f"{heads} head, {tails} long-tail users",
    )])


def _c7(cx: _Context) -> list[Row]:
    return _each(cx, PAPER_VARIANTS, lambda v: f"ensemble − single runs, {_name(v)}",
                 lambda v: ((RANKS, v), (ENSEMBLE, v)), _c7_row)


def _c7_row(cx: _Context, variant: str, compared: str) -> Row:
    if len(cx.ev.seeds) < 2:
        return cx.row(variant, compared, reason="1 seed: the ensemble of one seed is that seed's run")
    ensemble = _values(cx.ev.ensembles[variant], HEADLINE)
    singles = _values(cx.ev.ranks[variant], HEADLINE)
    if cx.ev.ensemble_mode == "inference":
        # The first seed's model over every seed's draws, against that model's own run.
        single, note = singles[0], f"eval.ensemble inference: seed {cx.ev.seeds[0]}'s model, against its own run"
    else:
        single, note = singles, "eval.ensemble runs: every seed's model, against each seed's run"
    return cx.row(variant, compared, [cx.users(compared, HEADLINE, ensemble, single, note=note)])


def _c8a(cx: _Context) -> list[Row]:
    return _headline_rows(cx, BASELINE, CONTROL)


def _c8b(cx: _Context) -> list[Row]:
    return _each(cx, PAPER_VARIANTS, lambda v: f"all reverse steps − ablations, {_name(v)}", lambda v: ((RANKS, v),),
                 _c8b_row)


def _c8b_row(cx: _Context, variant: str, label: str) -> Row:
    full = _values(cx.ev.ranks[variant], HEADLINE)
    tests = []
    for setting in (ONE_STEP, ZERO_XT):
        compared, measure = f"all reverse steps − {setting}, {_name(variant)}", f"{HEADLINE} vs {setting}"
        reason = cx.missing((ABLATION, variant, setting))
        if reason:
            tests.append(Test(measure, HIGHER, compared=compared, reason=reason))
        else:
            tests.append(cx.users(compared, measure, full, _values(cx.ev.ablations[variant][setting], HEADLINE)))
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
    # NDCG@10 first: the row's headline.
    for metric in sorted((m for m in PAPER_METRICS if m in values), key=lambda m: m != HEADLINE):
        ours = seed_metric(cx.ev.ranks[variant], metric)
        check = Compatibility(values[metric], float(ours.mean()), float(ours.std(ddof=1)), cx.settings.cv_threshold)
        tests.append(Test(measure=metric, direction=0, compatibility=check))
    return cx.row(variant, compared, tests)


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
