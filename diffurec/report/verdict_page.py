"""reports/verdict.md and the `verdict` block of metrics.json, from a judged Verdict.

Fixed decimals and the order of the claims, datasets and subjects, so the same runs give the same
bytes; the only numbers that differ between two runs of the same models are C3's measured seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from diffurec.datasets import DATASET_NAMES
from diffurec.report.claims import CLAIMS, Claim
from diffurec.report.evidence import DatasetEvidence
from diffurec.report.markdown import markdown_table
from diffurec.report.tables import p_value_text
from diffurec.report.uncertainty import MIN_SEEDS
from diffurec.report.verdict import (
    CONTRADICTED,
    INCONCLUSIVE,
    NO_EFFECT,
    NOT_TESTABLE,
    STATUSES,
    SUPPORTED,
    VARIANCE,
    Row,
    Test,
    Verdict,
)

# C9's own table: printed numbers beside ours, no interval.
COMPATIBILITY_CLAIM = "C9"


def render_verdict(verdict: Verdict, evidence: Sequence[DatasetEvidence], notes: Sequence[str] = (),
                   provenance: str = "") -> str:
    """The page: the summary (one line per comparison), each claim's comparisons, how the run differs
    from the paper's configuration, and the rules. `notes`: more lines for the notes; `provenance`:
    the line under the title (diffurec.report.provenance)."""
    seeds = sorted({seed for dataset in evidence for seed in dataset.seeds})
    counts = [sum(verdict.row_status(row) == status for row in verdict.rows) for status in STATUSES]
    parts = [
        "# Verdict: do the paper's claims hold on this run?\n",
        provenance,
        f"Datasets: {', '.join(_dataset(d.dataset) for d in evidence)}; seeds: {', '.join(map(str, seeds))}. "
        "Each claim of DiffuRecSys (ROEGEN@RecSys'24), tested on each dataset of this run from what its stages "
        "wrote; every status is computed from its interval by the rules in the notes, and each interval is at "
        "its claim's family level. Rows: "
        + ", ".join(f"{count} {status}" for count, status in zip(counts, STATUSES) if count)
        + ".\n",
        "## Summary\n",
        _summary(verdict),
    ]
    for claim in CLAIMS:
        rows = [row for row in verdict.rows if row.claim == claim]
        table = _compatibility_table(verdict, rows) if claim.id == COMPATIBILITY_CLAIM else _tests_table(verdict, rows)
        parts.append(f"## {claim.id}: {claim.short} ({claim.section})\n\n> {claim.words}\n\nTested: {claim.tested}"
                     f"{_family_line(verdict, claim, rows)}\n\n{table}")
    parts.append(_setup_section(evidence))
    parts.append("## Notes\n\n" + "".join(f"- {line}\n" for line in [*_rules(verdict), *notes]))
    return "\n".join(part for part in parts if part)


def untestable_summary(verdict: Verdict) -> str:
    """The summary of a verdict none of whose rows is testable: one row per claim and reason, naming
    the datasets it holds for, in place of one row per claim, dataset and subject that all say the same."""
    groups: dict[tuple[Claim, str], list[str]] = {}
    for row in verdict.rows:
        datasets = groups.setdefault((row.claim, "; ".join(verdict.row_reasons(row))), [])
        if _dataset(row.dataset) not in datasets:
            datasets.append(_dataset(row.dataset))
    rows = [[claim.id, claim.words, claim.section, ", ".join(datasets), reasons]
            for (claim, reasons), datasets in groups.items()]
    return markdown_table(["Claim", "The paper's words", "Section", "Datasets", "Why not testable here"], "lllll", rows)


def metrics_block(verdict: Verdict) -> dict[str, dict[str, Any]]:
    """Row id -> its status and its headline comparison's effect, interval (at the family's level),
    p and adjusted p, rounded so the same runs write the same bytes (effects 4 decimals in the page's
    units, p-values 4 significant digits)."""
    block = {}
    for row in verdict.rows:
        test = verdict.deciding(row)
        estimate = test.estimate if test is not None else None
        shown = [_shown(test, value) for value in (estimate.effect, *estimate.interval)] if estimate else [None] * 3
        if test is not None and test.compatibility is not None and row.reason is None:
            shown[0] = 100.0 * (test.compatibility.mean - test.compatibility.paper)
        block[row.id] = {
            "status": verdict.row_status(row),
            "effect": _rounded(shown[0]),
            "ci_low": _rounded(shown[1]),
            "ci_high": _rounded(shown[2]),
            "confidence": None if estimate is None else _significant(estimate.confidence),
            "p": None if estimate is None else _significant(estimate.p),
            "p_adjusted": _significant(None if test is None else verdict.adjusted_p(row, test)),
            "family": verdict.family(row),
        }
    return block


def _summary(verdict: Verdict) -> str:
    """One line per decisive comparison (a row without one: one line with its reason)."""
    lines = []
    for row in verdict.rows:
        tests = [test for test in row.tests if test.decisive] if row.reason is None else []
        if row.claim.id == COMPATIBILITY_CLAIM and tests:
            # C9: the row's status on its headline number (NDCG@10); the claim's section has the rest.
            lines.append([f"{row.claim.id} {row.claim.short}", _dataset(row.dataset), row.compared,
                          _summary_effect(row.headline), "—", "—", "—", f"**{verdict.row_status(row)}**"])
            continue
        if not tests:
            lines.append([f"{row.claim.id} {row.claim.short}", _dataset(row.dataset), row.compared, "—", "—", "—", "—",
                          f"**{NOT_TESTABLE}**: " + "; ".join(verdict.row_reasons(row))])
            continue
        for test in tests:
            estimate = test.estimate
            lines.append([
                f"{row.claim.id} {row.claim.short}",
                _dataset(row.dataset),
                row.label(test),
                _summary_effect(test),
                _interval(test),
                "—" if estimate is None else p_value_text(verdict.adjusted_p(row, test)),
                "—" if estimate is None else str(verdict.family(row)),
                _status_text(verdict, test),
            ])
    header = ["Claim", "Dataset", "Compared", "Effect", "Interval", "p (adjusted)", "Family", "Status"]
    return markdown_table(header, "lllrrrrl", lines)


def _summary_effect(test: Test | None) -> str:
    """The headline's effect; for C9, ours − printed."""
    if test is not None and test.compatibility is not None:
        return f"{100.0 * (test.compatibility.mean - test.compatibility.paper):+.3f} pp"
    return "—" if test is None or test.estimate is None else _number(test, test.estimate.effect)


def _status_text(verdict: Verdict, test: Test) -> str:
    status = verdict.status(test)
    if status == NOT_TESTABLE:
        return f"**{status}**: {test.reason}"
    needed = verdict.needed(test)
    if needed is not None:
        return f"**{status}**: ~{_factor(needed)}× the sample would settle it"
    return f"**{status}**"


def _family_line(verdict: Verdict, claim: Claim, rows: Sequence[Row]) -> str:
    if claim.id == COMPATIBILITY_CLAIM:
        return ""
    sizes = {}
    for row in rows:
        sizes.setdefault(_dataset(row.dataset), verdict.family(row))
    text = "; ".join(f"{dataset}: {m}" for dataset, m in sizes.items())
    return (f"\n\nFamily (decisive comparisons per dataset, each interval at 1 − {verdict.settings.alpha} / m): "
            f"{text}.")


def _tests_table(verdict: Verdict, rows: Sequence[Row]) -> str:
    lines = []
    for row in rows:
        prefix = [_dataset(row.dataset), row.compared]
        if row.reason is not None or not row.tests:
            lines.append([*prefix, "—", "—", "—", "—", "—", "—", f"{NOT_TESTABLE}: " + "; ".join(verdict.row_reasons(row)),
                          ""])
            continue
        for test in row.tests:
            estimate = test.estimate
            if test.reason is not None or estimate is None:
                lines.append([*prefix, test.measure, "—", "—", "—", "—", "—", f"{NOT_TESTABLE}: {test.reason}", ""])
                continue
            status = verdict.status(test)
            p = verdict.adjusted_p(row, test) if test.decisive else estimate.p
            lines.append([
                *prefix, test.measure, _number(test, estimate.effect), _interval(test), f"{estimate.confidence:.2%}",
                p_value_text(p) + ("" if test.decisive else " (raw)"), VARIANCE[estimate.method],
                status if status is not None else "shown only", _note(verdict, test),
            ])
    header = ["Dataset", "Compared", "Measure", "Effect", "Interval", "Level", "p", "Variance", "Status", "Note"]
    return markdown_table(header, "lllrrrrlll", lines)


def _note(verdict: Verdict, test: Test) -> str:
    parts = [test.note] if test.note else []
    if test.paper is not None and test.estimate is not None:
        low, high = test.estimate.interval
        where = "inside" if low <= test.paper <= high else "outside"
        parts.append(f"{test.paper_label} ({_number(test, test.paper)}): {where} the interval")
    needed = verdict.needed(test)
    if needed is not None:
        what = "seeds and users" if test.estimate.seeds >= MIN_SEEDS else "users"
        parts.append(f"~{_factor(needed)}× this run's {what} would settle it")
    return "; ".join(parts)


def _compatibility_table(verdict: Verdict, rows: Sequence[Row]) -> str:
    lines = []
    for row in rows:
        prefix = [_dataset(row.dataset), row.compared]
        if row.reason is not None:
            lines.append([*prefix, "—", "—", "—", "—", "—", "—", f"{NOT_TESTABLE}: {row.reason}"])
            continue
        for test in row.tests:
            check = test.compatibility
            lines.append([
                *prefix, test.measure, f"{check.paper:.4f}", f"{check.mean:.4f} ± {check.std:.4f}",
                _yes(check.compatible), f"{check.cv:.3f}", _yes(check.stable), verdict.status(test),
            ])
    header = ["Dataset", "Compared", "Metric", "Printed", "Ours (mean ± std)", "Compatible", "CV", "Stable", "Status"]
    return markdown_table(header, "lllrrlrll", lines)


def _setup_section(evidence: Sequence[DatasetEvidence]) -> str:
    rows = [
        [_dataset(d.dataset), difference.key, str(difference.ours), str(difference.paper)]
        for d in evidence
        for difference in d.setup_differences
    ]
    if not rows:
        return (
            "## Configuration\n\nEvery dataset of this run is at the paper's configuration (section 6.2), so C9 "
            "compares its printed numbers with ours.\n"
        )
    return (
        "## Configuration\n\nWhere this run is not at the paper's configuration (section 6.2); C9 compares printed "
        "numbers only with runs at it.\n\n"
        + markdown_table(["Dataset", "Param", "This run", "Paper"], "llrr", rows)
    )


def _rules(verdict: Verdict) -> list[str]:
    settings = verdict.settings
    smallest = f"{settings.smallest_effect:.0%}"
    return [
        f"Families: each claim on each dataset is one family of m decisive comparisons, and its intervals are at "
        f"1 − {settings.alpha} / m (Bonferroni); p (adjusted) = min(1, m p) is below {settings.alpha} exactly when "
        "the interval excludes zero. A claim's status never depends on another claim's comparisons. Comparisons "
        "shown only (C1's per metric, C2's paper-style test) are at 95% with their raw p and decide nothing.",
        f"Status of a comparison: **{SUPPORTED}**, its interval excludes zero on the side the claim predicts; "
        f"**{CONTRADICTED}**, on the other side; **{NO_EFFECT}**, its interval lies within ± the smallest effect of "
        f"interest, {smallest} of the reference's mean (verdict.smallest_effect; for C3's time ratio, ± {smallest} "
        f"of 1); **{INCONCLUSIVE}**, it covers zero and reaches past that (the note says about how many times this "
        f"run's sample would settle it at the variance observed: an interval narrows as one over the square root "
        f"of its sample); **{NOT_TESTABLE}**, with the reason, when the run lacks what it needs. A row: "
        f"{CONTRADICTED} if any of its decisive comparisons is, else {NO_EFFECT} if any is, else {INCONCLUSIVE} "
        f"if any is, else {NOT_TESTABLE} if any is, else {SUPPORTED}.",
        f"Per user (C1, C4-C8): the mean over test users and seeds of compared − reference (HR@k or NDCG@k, full "
        f"ranking, the target losing ties), seeds paired by index; a re-run baseline or an ensemble is one run, "
        f"set against every seed. Variance 'seeds and users' (from {MIN_SEEDS} seeds): the two-way (seed × user) "
        "random-effects variance of that mean, Student's t with Satterthwaite's degrees of freedom. 'test users "
        f"only' (fewer seeds, or one run): a percentile bootstrap over users of their seed-averaged values, "
        f"{settings.bootstrap_resamples} resamples from a numpy generator seeded with {settings.bootstrap_seed} "
        "(verdict.bootstrap_seed), p the bootstrap's own; the interval then holds no training variance. C6 "
        "compares two groups of users (head and long-tail test items), each resampled within itself.",
        f"Per seed (C2, C3): Student's paired t-test over seeds (scipy's ttest_rel) and its interval; it needs "
        f"at least {MIN_SEEDS} seeds. C2 tests each seed's mean of the six metrics; C3 the log of each seed's "
        "seconds to its best validation epoch, shown as a ratio, against the paper's stated two-thirds less; a "
        "run ended at the epoch cap has a censored time, and C3 is not testable when most runs are.",
        "Measured: C3's seconds are wall-clock times of the machine that trained each run, the only numbers on "
        "this page that differ between two runs of the same models.",
        f"C4b, an equivalence: supported when the interval of V2 − V1 lies within ± {smallest} of V1's mean, "
        f"contradicted when it lies wholly outside, {INCONCLUSIVE} otherwise.",
        "C9 (Benigni, Ferrari Dacrema and Jannach 2025): a printed number is compatible when it lies within our "
        f"mean ± 1 std over seeds (sample std), our spread stable when CV = std / mean < {settings.cv_threshold} "
        f"(verdict.cv_threshold): {SUPPORTED} when both hold, {CONTRADICTED} when not compatible, "
        f"{INCONCLUSIVE} when compatible but not stable. Only for runs at the paper's configuration with at least "
        "2 seeds; DiffuRec's printed numbers are DiffuRec's own published ones (TOIS 2023), as the paper's Table 3 "
        "prints them. C9's effect in the summary: ours − printed, NDCG@10.",
        "Effects: compared − reference in percentage points (pp: 100 × the metric difference), or as a ratio "
        "(C3).",
    ]


def _shown(test: Test, value: float) -> float:
    """A value in the page's units: a ratio for a log ratio, else percentage points."""
    return math.exp(value) if test.ratio else 100.0 * value


def _number(test: Test, value: float) -> str:
    return f"{_shown(test, value):.3f}×" if test.ratio else f"{_shown(test, value):+.3f} pp"


def _interval(test: Test | None) -> str:
    if test is None or test.estimate is None:
        return "—"
    low, high = test.estimate.interval
    return f"[{_number(test, low)}, {_number(test, high)}]"


def _factor(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _dataset(key: str) -> str:
    return DATASET_NAMES.get(key, key)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _significant(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.4g}")
