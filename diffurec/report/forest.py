"""The verdict at one glance (reports/figures/verdict.png): every decisive comparison's effect and
its interval at its family's level, zero marked, the paper's stated size where it states one, each
coloured by its status. Metric differences (percentage points) and C3's time ratios have no common
axis, so each has its own panel. Built without pyplot, as diffurec.report.figures."""

from __future__ import annotations

import math

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, NullFormatter

from diffurec.datasets import DATASET_NAMES
from diffurec.report.verdict import CONTRADICTED, INCONCLUSIVE, NO_EFFECT, SUPPORTED, Test, Verdict

# Okabe-Ito colours (as diffurec.report.figures), one per status a comparison with an interval can have.
STATUS_COLOURS = {SUPPORTED: "#009E73", CONTRADICTED: "#D55E00", NO_EFFECT: "#0072B2", INCONCLUSIVE: "#999999"}


def comparisons(verdict: Verdict) -> list[tuple[str, Test]]:
    """(label, comparison) for every decisive comparison that has an interval, in the page's order."""
    return [
        (f"{row.claim.id} {DATASET_NAMES.get(row.dataset, row.dataset)}: {row.label(test)}", test)
        for row in verdict.rows
        for test in row.tests
        if test.decisive and test.estimate is not None
    ]


def forest_figure(verdict: Verdict) -> Figure:
    """The figure: a panel of metric differences (pp) and, if C3 was tested, a panel of time ratios."""
    found = comparisons(verdict)
    panels = [[(label, t) for label, t in found if not t.ratio], [(label, t) for label, t in found if t.ratio]]
    panels = [panel for panel in panels if panel]
    heights = [max(len(panel), 1) for panel in panels] or [1]
    figure = Figure(figsize=(9.0, 1.2 + 0.28 * sum(heights)), dpi=100, layout="constrained")
    if not panels:
        figure.text(0.5, 0.5, "No comparison of this run has an interval (reports/verdict.md says why)",
                    ha="center", va="center")
        return figure
    grid = figure.add_gridspec(len(panels), 1, height_ratios=heights)
    for index, panel in enumerate(panels):
        _draw(figure.add_subplot(grid[index]), panel, verdict)
    used = {verdict.status(t) for _, t in found}
    handles = [Line2D([], [], color=colour, marker="o", linestyle="-", label=status)
               for status, colour in STATUS_COLOURS.items() if status in used]
    if any(t.paper is not None for _, t in found):
        handles.append(Line2D([], [], color="black", marker="D", linestyle="", markerfacecolor="none",
                              label="the paper's stated size"))
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    figure.suptitle("Each comparison of the verdict: effect and interval at its claim's family level")
    return figure


def _draw(axes, panel: list[tuple[str, Test]], verdict: Verdict) -> None:
    ratio = panel[0][1].ratio
    shown = math.exp if ratio else (lambda value: 100.0 * value)
    for position, (label, test) in enumerate(panel):
        y = len(panel) - 1 - position
        low, high = test.estimate.interval
        colour = STATUS_COLOURS[verdict.status(test)]
        axes.plot([shown(low), shown(high)], [y, y], color=colour, linewidth=2)
        axes.plot([shown(test.estimate.effect)], [y], "o", color=colour)
        if test.paper is not None:
            axes.plot([shown(test.paper)], [y], "D", color="black", markerfacecolor="none")
    axes.axvline(1.0 if ratio else 0.0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(panel)), [label for label, _ in reversed(panel)], fontsize=8)
    axes.set_ylim(-0.6, len(panel) - 0.4)
    if ratio:
        axes.set_xscale("log")
        # Plain ratios (0.5, 1) rather than powers of ten.
        axes.xaxis.set_major_formatter(FormatStrFormatter("%.2g"))
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.set_xlabel("time to the best epoch, compared / reference (C3)")
    else:
        axes.set_xlabel("compared − reference, percentage points")
    axes.grid(axis="x", linewidth=0.3)
