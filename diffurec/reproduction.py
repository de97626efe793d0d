"""How far our measured Table 3 lies from the paper's, metric by metric, in the paper's own units.

The paper prints mean ± std over seeds for its variants and, for DiffuRec, DiffuRec's published
numbers without a spread. A measured mean is "within the paper's std" when it differs from the
paper's mean by at most one of the paper's standard deviations; where the paper gives no std
only the difference and the relative difference are reported.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from diffurec.tables import PAPER_LABELS, markdown_table


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one (dataset, variant): our seeds against the paper's printed value."""

    metric: str
    ours: tuple[float, ...]  # one value per seed
    paper_mean: float
    paper_std: float | None

    @property
    def mean(self) -> float:
        return statistics.fmean(self.ours)

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.ours) if len(self.ours) > 1 else None

    @property
    def difference(self) -> float:
        return self.mean - self.paper_mean

    @property
    def relative(self) -> float:
        return self.difference / self.paper_mean

    @property
    def in_paper_stds(self) -> float | None:
        if not self.paper_std:
            return None
        return self.difference / self.paper_std

    @property
    def within_paper_std(self) -> bool | None:
        ratio = self.in_paper_stds
        return None if ratio is None else abs(ratio) <= 1.0


def compare(
    ours: Mapping[str, Sequence[float]], paper_mean: Sequence[float], paper_std: Sequence[float] | None,
    metrics: Sequence[str],
) -> list[MetricComparison]:
    """`ours`: metric -> one value per seed; the paper's values follow `metrics`' order."""
    stds = paper_std if paper_std is not None else [None] * len(metrics)
    return [
        MetricComparison(metric, tuple(ours[metric]), float(mean), None if std is None else float(std))
        for metric, mean, std in zip(metrics, paper_mean, stds, strict=True)
    ]


def render_comparison(rows: Mapping[str, Sequence[MetricComparison]]) -> str:
    """A Markdown table: per variant and metric, ours, the paper's, and the gap in both units."""
    body = []
    for variant, comparisons in rows.items():
        for c in comparisons:
            body.append([
                PAPER_LABELS[variant],
                c.metric,
                _mean_std(c.mean, c.std, len(c.ours)),
                _mean_std(c.paper_mean, c.paper_std, None),
                f"{c.difference:+.4f}",
                f"{c.relative:+.1%}",
                "—" if c.in_paper_stds is None else f"{c.in_paper_stds:+.1f}",
                {None: "—", True: "yes", False: "no"}[c.within_paper_std],
            ])
    header = ["Model", "Metric", "Ours", "Paper", "Difference", "Relative", "In paper stds", "Within paper std"]
    return markdown_table(header, "llrrrrrl", body)


def reading(variant: str, comparisons: Sequence[MetricComparison]) -> str:
    """One sentence that sums up a variant's comparison."""
    label = PAPER_LABELS[variant]
    below = sum(c.difference < 0 for c in comparisons)
    worst = max(comparisons, key=lambda c: abs(c.relative))
    gap = f"the largest gap is {worst.metric} ({worst.relative:+.1%})"
    if comparisons[0].paper_std is None:
        return (f"{label}: below the published value on {below} of {len(comparisons)} metrics; {gap} "
                f"(the paper prints no std for it).")
    within = sum(bool(c.within_paper_std) for c in comparisons)
    return (f"{label}: within one paper std on {within} of {len(comparisons)} metrics, below the paper's mean "
            f"on {below}; {gap}, {worst.in_paper_stds:+.1f} paper stds.")


def _mean_std(mean: float, std: float | None, n: int | None) -> str:
    if n is not None:
        seeds = f" ({n} seed{'s' if n != 1 else ''})"
        return f"{mean:.4f} ± {'n/a' if std is None else f'{std:.4f}'}{seeds}"
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"
