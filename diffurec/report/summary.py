"""reports/summary.md: the scale of this run and the answer, on one page a newcomer reads first.

It holds no number of its own: the statuses, effects and intervals are the verdict's
(diffurec.report.verdict), the label check is the paper's Table 4 against its Table 3
(diffurec.report.significance.check_paper_table4), and the printed baselines are the paper's
Table 5 beside this run's re-runs. The same runs give the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from diffurec.datasets import DATASET_NAMES
from diffurec.report.claims import CLAIMS
from diffurec.report.evidence import DatasetEvidence, metric_values
from diffurec.report.markdown import markdown_table
from diffurec.report.significance import PaperRowCheck
from diffurec.report.verdict import HEADLINE, Row, Test, Verdict

# The comparisons the summary's effects table shows: the paper's headline claims, and the diffusion
# against its control (the reverse process has its own line in the findings).
HEADLINE_CLAIMS = ("C1", "C4a", "C5", "C8a")
FIGURE = "figures/verdict.png"


def render_summary(
    verdict: Verdict,
    evidence: Sequence[DatasetEvidence],
    provenance: str,
    checks: Sequence[PaperRowCheck],
    printed_baselines: Mapping[str, Mapping[str, Mapping[str, float]]],
) -> str:
    """The page. `checks`: the paper's Table 4 rows recomputed from its Table 3 (empty when the paper's
    numbers could not be read); `printed_baselines`: its Table 5, dataset -> method -> metric -> value."""
    datasets = [ev.dataset for ev in evidence]
    return "\n".join([
        "# Summary: does DiffuRecSys hold on this run?\n",
        provenance,
        "## The answer, claim by claim\n",
        "Each cell is the status of the claim's comparisons on that dataset, as `reports/verdict.md` computes "
        "it from intervals at each claim's family level (its notes give the rules); the paper's words are there "
        "too.\n",
        _answer_table(verdict, datasets),
        "## The headline effects\n",
        f"Compared − reference on per-user {HEADLINE} (C1: the mean of the six metrics), percentage points, "
        f"with the interval the status was read from. All comparisons at a glance: [{FIGURE}]({FIGURE}).\n",
        _effects_table(verdict),
        "## What the paper does not say\n",
        "".join(f"- {line}\n" for line in _findings(verdict, evidence, checks, printed_baselines)),
        "## The paper's scale\n",
        "This page judges this run only. Runs at the paper's configuration (its datasets, hidden 128, on a GPU) "
        "are collected in `docs/reproduction.md`, from the device ledger, with the same verdict applied to them; "
        "`docs/fidelity.md` lists every known difference from the paper and the official code.\n",
    ])


def _answer_table(verdict: Verdict, datasets: Sequence[str]) -> str:
    rows = []
    for claim in CLAIMS:
        cells = []
        for dataset in datasets:
            claim_rows = [row for row in verdict.rows if row.claim == claim and row.dataset == dataset]
            cells.append(_cell(verdict, claim_rows))
        rows.append([f"{claim.id} {claim.short}", *cells])
    return markdown_table(["Claim", *(DATASET_NAMES.get(d, d) for d in datasets)], "l" * (len(datasets) + 1), rows)


def _cell(verdict: Verdict, rows: Sequence[Row]) -> str:
    """The rows' statuses: one word when they agree, else each subject's."""
    statuses = [verdict.row_status(row) for row in rows]
    if len(set(statuses)) == 1:
        return statuses[0] if statuses else "—"
    return "; ".join(f"{row.subject or row.compared}: {status}" for row, status in zip(rows, statuses))


def _effects_table(verdict: Verdict) -> str:
    lines = []
    for row in verdict.rows:
        if row.claim.id not in HEADLINE_CLAIMS or row.reason is not None:
            continue
        for test in row.tests:
            if not test.decisive or test.estimate is None:
                continue
            low, high = test.estimate.interval
            lines.append([
                row.claim.id, DATASET_NAMES.get(row.dataset, row.dataset), row.label(test),
                f"{100 * test.estimate.effect:+.2f}", f"[{100 * low:+.2f}, {100 * high:+.2f}]", verdict.status(test),
            ])
    if not lines:
        return "No headline comparison is testable on this run (reports/verdict.md says why).\n"
    return markdown_table(["Claim", "Dataset", "Compared", "Effect (pp)", "Interval (pp)", "Status"], "lllrrl", lines)


def _findings(
    verdict: Verdict,
    evidence: Sequence[DatasetEvidence],
    checks: Sequence[PaperRowCheck],
    printed_baselines: Mapping[str, Mapping[str, Mapping[str, float]]],
) -> list[str]:
    lines = []
    for row in verdict.rows:
        if row.claim.id == "C8a" and row.reason is None and row.headline is not None:
            lines.append(f"The diffusion, against the same network and recipe without it, on "
                         f"{_dataset(row)}: {row.compared} {_effect(row.headline)}, **{verdict.row_status(row)}**.")
    lines += _reverse_process(verdict)
    lines.append(_label_check(checks))
    lines += _printed_baselines(evidence, printed_baselines)
    return lines


def _reverse_process(verdict: Verdict) -> list[str]:
    """C8b in one line per dataset and ablation: each model's effect of the full reverse process."""
    lines: dict[tuple[str, str], list[str]] = {}
    for row in verdict.rows:
        if row.claim.id != "C8b" or row.reason is not None:
            continue
        for test in (t for t in row.tests if t.estimate is not None):
            setting = test.measure.split(" vs ")[-1]
            lines.setdefault((_dataset(row), setting), []).append(
                f"{row.compared.split(', ')[-1]} {100 * test.estimate.effect:+.2f} pp ({verdict.status(test)})")
    return [f"The full reverse process against {setting}, on {dataset}: " + "; ".join(effects) + "."
            for (dataset, setting), effects in lines.items()]


def _label_check(checks: Sequence[PaperRowCheck]) -> str:
    if not checks:
        return "The paper's Table 4 could not be checked against its Table 3: its numbers were not read."
    swapped = [c for c in checks if len(c.matched) == 1 and c.matched != (c.printed_label,)]
    if len(swapped) == len(checks):
        return (f"The paper's Table 4 swaps its V1 and V2 labels: each of its {len(checks)} rows is the paper's own "
                "test on its Table 3 for the other variant (reports/table4_ttest.md, the paper check).")
    return (f"The paper's Table 4 against its Table 3: {len(swapped)} of {len(checks)} rows are reproduced only "
            "under the other variant's label (reports/table4_ttest.md, the paper check).")


def _printed_baselines(evidence: Sequence[DatasetEvidence],
                       printed: Mapping[str, Mapping[str, Mapping[str, float]]]) -> list[str]:
    """This run's re-run baselines beside the paper's printed ones, where it prints the same model."""
    lines = []
    for ev in evidence:
        for name, run in ev.baselines.items():
            value = printed.get(ev.dataset, {}).get(name, {}).get(HEADLINE)
            if value is None:
                continue
            ours = float(np.mean(metric_values(run.ranks, HEADLINE)))
            lines.append(f"The paper's Table 5 prints {name} on {DATASET_NAMES.get(ev.dataset, ev.dataset)} at "
                         f"{HEADLINE} {value:.4f}; re-run on this split it scores {ours:.4f} "
                         f"({ours / value:.2f}× the printed number).")
    if not lines:
        covered = ", ".join(DATASET_NAMES.get(d, d) for d in printed) or "no dataset"
        lines.append(f"The paper prints its baselines (Table 5) for {covered} only, not for this run's datasets; "
                     "`docs/reproduction.md` sets its re-runs at the paper's scale beside them.")
    return lines


def _dataset(row: Row) -> str:
    return DATASET_NAMES.get(row.dataset, row.dataset)


def _effect(test: Test) -> str:
    low, high = test.estimate.interval
    return f"{100 * test.estimate.effect:+.2f} pp [{100 * low:+.2f}, {100 * high:+.2f}]"
