"""reports/verdict.md and the `verdict` block of metrics.json, from a judged Verdict.

Fixed decimals and the order of the claims, datasets and subjects, so the same runs give the same
bytes; the only numbers that differ between two runs of the same models are C3's measured seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from diffurec.datasets import DATASET_NAMES
from diffurec.report.claims import CLAIMS, Claim
from diffurec.report.evidence import DatasetEvidence
from diffurec.report.markdown import markdown_table
from diffurec.report.tables import p_value_text
from diffurec.report.verdict import (
    CONTRADICTED,
    MIN_SEEDS,
    NOT_SUPPORTED,
    NOT_TESTABLE,
    SUPPORTED,
    Row,
    Test,
    Verdict,
)

STATUSES = (SUPPORTED, NOT_SUPPORTED, CONTRADICTED, NOT_TESTABLE)
# C9's own table: printed numbers beside ours, no test.
COMPATIBILITY_CLAIM = "C9"


def render_verdict(verdict: Verdict, evidence: Sequence[DatasetEvidence], notes: Sequence[str] = ()) -> str:
    """The page: the summary (one row per claim, dataset and subject), each claim's tests, how the run
    differs from the paper's configuration, and the rules. `notes`: more lines for the notes."""
    seeds = sorted({seed for dataset in evidence for seed in dataset.seeds})
    counts = [sum(verdict.row_status(row) == status for row in verdict.rows) for status in STATUSES]
    parts = [
        "# Verdict: do the paper's claims hold on this run?\n",
        f"Datasets: {', '.join(_dataset(d.dataset) for d in evidence)}; seeds: {', '.join(map(str, seeds))}. "
        "Each claim of DiffuRecSys (ROEGEN@RecSys'24) in the paper's own words, tested on each dataset of this "
        "run from what its stages wrote (per-user test ranks, training records, the re-run baselines, the "
        "inference ablations); every status below is computed by the rules in the notes. Rows: "
        + ", ".join(f"{count} {status}" for count, status in zip(counts, STATUSES))
        + ".\n",
        "## Summary\n",
        _summary(verdict),
    ]
    for claim in CLAIMS:
        rows = [row for row in verdict.rows if row.claim == claim]
        table = _compatibility_table(verdict, rows) if claim.id == COMPATIBILITY_CLAIM else _tests_table(verdict, rows)
        parts.append(f"## {claim.id}: {claim.section}\n\n> {claim.words}\n\nTested: {claim.tested}\n\n{table}")
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
    """Row id -> its status and its headline test's effect, interval, p and Holm p, rounded so the
    same runs write the same bytes (effects 4 decimals, p-values 4 significant digits)."""
    block = {}
    for row in verdict.rows:
        test = _headline(row)
        interval = test.interval if test is not None and test.interval is not None else (None, None)
        block[row.id] = {
            "status": verdict.row_status(row),
            "effect": _rounded(None if test is None else test.effect),
            "ci_low": _rounded(interval[0]),
            "ci_high": _rounded(interval[1]),
            "p": _significant(None if test is None else test.p),
            "p_holm": _significant(None if test is None else verdict.p_holm.get(test.key)),
        }
    return block


def _headline(row: Row) -> Test | None:
    return row.tests[row.headline] if row.tests else None


def _summary(verdict: Verdict) -> str:
    rows = []
    for row in verdict.rows:
        test = _headline(row)
        effect = "—" if test is None else _effect(test)
        cells = _p_cells(verdict, test) if test is not None else ["—", "—"]
        claim = row.claim
        rows.append([claim.id, claim.words, claim.section, _dataset(row.dataset), row.compared,
                     _status_text(verdict, row), effect, *cells])
    header = ["Claim", "The paper's words", "Section", "Dataset", "Compared", "Status", "Effect [95% interval]", "p",
              "p (Holm)"]
    return markdown_table(header, "llllllrrr", rows)


def _status_text(verdict: Verdict, row: Row) -> str:
    status = verdict.row_status(row)
    if status != NOT_TESTABLE:
        return f"**{status}**"
    return f"**{status}**: " + "; ".join(verdict.row_reasons(row))


def _tests_table(verdict: Verdict, rows: Sequence[Row]) -> str:
    lines = []
    for row in rows:
        prefix = [_dataset(row.dataset), row.compared]
        if row.reason is not None:
            lines.append([*prefix, "—", "—", "—", "—", "—", "—", "—", NOT_TESTABLE, row.reason])
            continue
        for test in row.tests:
            note = test.reason if test.reason is not None else test.note
            lines.append([*prefix, test.measure, test.method, _effect(test), _relative(test), _paper(test),
                          *_p_cells(verdict, test), verdict.status(test), note])
    header = ["Dataset", "Compared", "Measure", "Test", "Effect [95% interval]", "Relative", "Paper", "p",
              "p (Holm)", "Status", "Note"]
    return markdown_table(header, "llllrrrrrll", lines)


def _compatibility_table(verdict: Verdict, rows: Sequence[Row]) -> str:
    lines = []
    for row in rows:
        prefix = [_dataset(row.dataset), row.compared]
        if row.reason is not None:
            lines.append([*prefix, "—", "—", "—", "—", "—", "—", NOT_TESTABLE, row.reason])
            continue
        for test in row.tests:
            check = test.compatibility
            lines.append([
                *prefix, test.measure, f"{check.paper:.4f}", f"{check.mean:.4f} ± {check.std:.4f}",
                _yes(check.compatible), f"{check.cv:.3f}", _yes(check.stable), verdict.status(test), "",
            ])
    header = ["Dataset", "Compared", "Metric", "Printed", "Ours (mean ± std)", "Compatible", "CV", "Stable", "Status",
              "Note"]
    return markdown_table(header, "lllrrlrlll", lines)


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
    return [
        f"Status of a test: **{SUPPORTED}**, the effect in the claimed direction and p (Holm) < {settings.alpha}; "
        f"**{CONTRADICTED}**, the opposite direction and p (Holm) < {settings.alpha}; **{NOT_SUPPORTED}**, "
        "otherwise (also when the mean difference and the rank statistic point opposite ways, or the test is "
        f"undefined, e.g. every pair tied); **{NOT_TESTABLE}**, with the reason, when the run lacks what the test "
        "needs. A row: contradicted if any test is; else not supported if any is; else supported if all are; "
        "else (some not testable, none failed) not testable here. The summary shows each row's headline test: "
        "the first of its tests (C9: NDCG@10).",
        f"Multiple comparisons: Holm's step-down correction over the family of the {len(verdict.p_holm)} distinct "
        "tests on this page that have a p-value (a test that two claims share, such as V1 − DiffuRec on "
        "NDCG@10 in C1 and C4a, counts once); C4b and C9 have no p-value and stay out of it.",
        "Per user: each test user's HR@k or NDCG@k (full ranking, the target losing ties) averaged over the "
        "seeds, paired between the two models; p from the Wilcoxon signed-rank test (normal approximation with "
        f"the tie correction, ties dropped), as in Table 4c. Interval: percentile bootstrap of the mean "
        f"difference, {settings.bootstrap_resamples} resamples, each interval from a numpy generator seeded with "
        f"{settings.bootstrap_seed} (verdict.bootstrap_seed), so the same runs give the same page.",
        f"Per seed (C2, C3): the paired t-test over seeds (one pair per seed) and Student's 95% interval; it needs "
        f"at least {MIN_SEEDS} seeds, and below that it is not testable here (the effect is still shown). C2 "
        "tests each seed's mean of the six metrics; C3 the log of each seed's seconds to its best validation "
        "epoch, shown as the ratio exp(mean) with the paper's Table 2 ratio beside it.",
        "Measured: C3's seconds are wall-clock times of the machine that trained each run, the only numbers on "
        "this page that differ between two runs of the same models, and C3's status rests on them; the best "
        "epochs beside them do not depend on the machine.",
        "C6: users grouped by their test item, a head item (the top analysis.head_fraction of items by training "
        "interactions, as in the case study) or long-tail; two-sample bootstrap interval (each group resampled "
        "on its own) and the Mann-Whitney U test.",
        f"C4b, an equivalence: supported when the 95% interval of V2 − V1 lies within ± "
        f"{settings.equivalence_margin:.0%} of V1's mean (verdict.equivalence_margin), contradicted when it lies "
        "wholly outside, not supported otherwise.",
        "C9 (Benigni, Ferrari Dacrema and Jannach 2025): a printed number is compatible when it lies within our "
        f"mean ± 1 std over seeds (sample std), our spread stable when CV = std / mean < {settings.cv_threshold} "
        "(verdict.cv_threshold); a number is supported when both hold, not supported otherwise. Only for runs at "
        "the paper's configuration with at least 2 seeds; DiffuRec's printed numbers are DiffuRec's own "
        "published ones (TOIS 2023), as the paper's Table 3 prints them. C9's effect in the summary: ours − printed.",
        "Effects: compared − reference, in percentage points (pp: 100 × the metric difference) or as a ratio "
        "(C3); Relative: the effect as % of the reference's mean; Paper: the paper's own value of the effect (C1, "
        "C2: its Table 3 difference averaged over the six metrics, what its Table 4 prints as Avg. Diff.).",
        f"{NOT_TESTABLE}: the run lacks a part the test needs, and the reason names it: a dataset, model or "
        "baseline not in this run (params), a file a stage did not write (with the stage to run), too few "
        "seeds, a baseline that did not converge, no published number for the dataset, or a run not at the "
        "paper's configuration.",
    ]


def _p_cells(verdict: Verdict, test: Test) -> list[str]:
    if test.p is None or test.reason is not None:
        return ["—", "—"]
    return [p_value_text(test.p), p_value_text(verdict.p_holm[test.key])]


def _effect(test: Test) -> str:
    if test.effect is None:
        return "—"
    text = _number(test.effect, test.unit)
    if test.interval is None:
        return text
    return f"{text} [{_number(test.interval[0], test.unit)}, {_number(test.interval[1], test.unit)}]"


def _number(value: float, unit: str) -> str:
    return f"{value:+.3f} pp" if unit == "pp" else f"{value:.3f}×"


def _relative(test: Test) -> str:
    return "—" if test.relative is None else f"{test.relative:+.1f}%"


def _paper(test: Test) -> str:
    return "—" if test.paper is None else _number(test.paper, test.unit)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _dataset(key: str) -> str:
    return DATASET_NAMES.get(key, key)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _significant(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.4g}")
