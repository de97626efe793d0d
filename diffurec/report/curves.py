"""Learning curves: each training run's validation score per epoch, with the epoch cap marked, so
that a run the cap ended (rather than early stopping) shows as one. Built without pyplot, as
`diffurec.report.figures`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from diffurec.report.figures import PALETTE

# The validation metric early stopping watches (diffurec.train.SELECTION_METRIC, as RecBole's
# valid_metric for the baselines); history.tsv names it with the prefix "valid_".
CURVE_METRIC = "NDCG@10"
@dataclass(frozen=True)
class Curve:
    """One training run: its validation score after each validated epoch and how far it trained."""

    seed: int
    # The epochs validated after (1-based, increasing) and the score after each.
    epochs: tuple[int, ...]
    scores: tuple[float, ...]
    # The last epoch trained, and train.epochs: the most the run could train.
    last_epoch: int
    cap: int

    @property
    def reached_cap(self) -> bool:
        """The run trained every epoch it was allowed: early stopping did not end it sooner."""
        return self.last_epoch >= self.cap


def learning_curves_figure(
    curves: Mapping[tuple[str, str], Sequence[Curve]], datasets: Mapping[str, str], variants: Mapping[str, str]
) -> Figure:
    """A grid of panels, a row per dataset and a column per variant (sharing the row's y axis):
    a line per seed (a seed keeps its colour), a dashed line at the epoch cap, and a square on
    the last point of each run that reached the cap.

    `curves[dataset, variant]`: one Curve per seed, in the seeds' order; `datasets` and
    `variants`: key -> display name, in drawing order.
    """
    figure = Figure(figsize=(0.6 + 3.4 * len(variants), 0.9 + 3.0 * len(datasets)), dpi=100, layout="constrained")
    grid = figure.add_gridspec(len(datasets), len(variants))
    for row, (dataset, dataset_name) in enumerate(datasets.items()):
        first = None
        for column, (variant, variant_name) in enumerate(variants.items()):
            axes = figure.add_subplot(grid[row, column], sharey=first)
            if first is None:
                first = axes
            _draw_runs(axes, curves[dataset, variant])
            axes.set_title(f"{dataset_name}: {variant_name}", fontsize=9)
            axes.set_xlabel("epoch", fontsize=8)
            if column == 0:
                axes.set_ylabel(f"validation {CURVE_METRIC}", fontsize=8)
            axes.grid(alpha=0.3)
    seeds = [curve.seed for curve in next(iter(curves.values()))]
    handles = [Line2D([], [], color=_colour(i), marker=".") for i in range(len(seeds))]
    labels = [f"seed {seed}" for seed in seeds]
    caps = sorted({curve.cap for runs in curves.values() for curve in runs})
    handles.append(Line2D([], [], color="grey", linestyle="--"))
    labels.append(f"epoch cap (train.epochs = {', '.join(map(str, caps))})")
    if any(curve.reached_cap for runs in curves.values() for curve in runs):
        handles.append(Line2D([], [], color="black", marker="s", markerfacecolor="none", linestyle=""))
        labels.append("run that reached the cap")
    figure.legend(handles, labels, loc="outside lower center", ncols=len(handles), fontsize=8)
    title = f"Validation {CURVE_METRIC} after each epoch: our models, a line per seed; re-run baselines, one run each"
    figure.suptitle(title, fontsize=10)
    return figure


def _draw_runs(axes, runs: Sequence[Curve]) -> None:
    """One (dataset, variant)'s seeds: their lines, its caps, and the runs that reached one."""
    for index, curve in enumerate(runs):
        axes.plot(curve.epochs, curve.scores, color=_colour(index), marker=".", markersize=4, linewidth=1.2,
                  label=f"seed {curve.seed}")
        if curve.reached_cap:
            axes.plot(curve.epochs[-1], curve.scores[-1], marker="s", markersize=9, markerfacecolor="none",
                      markeredgecolor="black", linestyle="")
    for cap in sorted({curve.cap for curve in runs}):
        axes.axvline(cap, color="grey", linestyle="--", linewidth=1.0)
    # From epoch 0, so that a run far below its cap shows how far below.
    axes.set_xlim(0, max(curve.cap for curve in runs) + 1)


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def curves_note(link: str) -> str:
    """Table 2's note on the learning-curves figure at `link` (relative to the report), as a list item."""
    return (
        f"- Learning curves: [validation {CURVE_METRIC} after each epoch of every run]({link}), a line per seed, "
        "the epoch cap dashed: a run that reached it is marked with a square, one that early stopping ended "
        "stops short of it; the re-run baselines (one run each) beside our models.\n"
    )
