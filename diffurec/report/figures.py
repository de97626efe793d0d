"""The case study's figures as matplotlib `Figure` objects (the caller saves them).

The t-SNE view of the reconstructed target representations x0 (the paper's Figures 3-6), bar
charts of a metric per user group, and the inference ablations' quality against inference cost. Figures are built without pyplot, so no global state
is touched and the same inputs draw the same picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.manifold import TSNE

# Okabe-Ito colours: distinguishable with the common forms of colour blindness.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def sample_users(n_users: int, size: int, seed: int) -> np.ndarray:
    """A fixed sample of min(size, n_users) user indices, sorted, int64."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_users, size=min(size, n_users), replace=False)).astype(np.int64)


def tsne_points(x: np.ndarray, *, perplexity: float, seed: int) -> np.ndarray:
    """2-D t-SNE of the rows of x [S, H] -> float64 [S, 2].

    The exact method, not Barnes-Hut: its gradient has no multithreaded sums, so the layout
    depends only on `seed`; for a few hundred points it is as fast.
    """
    if not 0 < perplexity < len(x):
        raise ValueError(f"t-SNE perplexity must be in (0, {len(x)}) for {len(x)} points, got {perplexity}")
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", method="exact", random_state=seed)
    return tsne.fit_transform(np.asarray(x, dtype=np.float64))


def tsne_figure(
    points: np.ndarray, labels: Sequence[str], order: Sequence[str], legend_title: str, title: str
) -> Figure:
    """Scatter of `points` [S, 2] coloured by `labels` [S]; legend entries in `order` with counts.

    The largest class is drawn first so that smaller ones stay visible on top of it.
    """
    labels = np.asarray(labels)
    figure = Figure(figsize=(6.4, 5.6), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    counts = {label: int((labels == label).sum()) for label in order}
    handles = {}
    for index, label in sorted(enumerate(order), key=lambda pair: -counts[pair[1]]):
        chosen = labels == label
        handles[label] = axes.scatter(
            points[chosen, 0], points[chosen, 1], s=12, alpha=0.75, linewidths=0, color=PALETTE[index % len(PALETTE)]
        )
    axes.legend(
        [handles[label] for label in order], [f"{label} (n = {counts[label]})" for label in order], title=legend_title
    )
    axes.set_xlabel("t-SNE dimension 1")
    axes.set_ylabel("t-SNE dimension 2")
    axes.set_title(title, fontsize=11)
    return figure


def group_bars_figure(
    rows: Mapping[str, Mapping[str, pd.DataFrame]], models: Sequence[str], ylabel: str, title: str
) -> Figure:
    """A grid of bar charts: one row per key of `rows` (e.g. a dataset), one panel per grouping.

    `rows[row][panel]`: a frame indexed by group label (x axis, in order) with one column per
    model holding the value to draw; a model keeps its colour (its place in `models`) in every
    panel, and a NaN (an empty group) draws no bar.
    """
    first = next(iter(rows.values()))
    widths = [max(2.5, 1.2 * len(frame.index)) for frame in first.values()]
    figure = Figure(figsize=(sum(widths) + 1.0, 0.6 + 3.6 * len(rows)), dpi=100, layout="constrained")
    grid = figure.add_gridspec(len(rows), len(widths), width_ratios=widths)
    handles = {}
    for r, (row, panels) in enumerate(rows.items()):
        for c, (panel, frame) in enumerate(panels.items()):
            axes = figure.add_subplot(grid[r, c])
            positions = np.arange(len(frame.index))
            width = 0.8 / max(1, len(frame.columns))
            for i, model in enumerate(frame.columns):
                offset = (i - (len(frame.columns) - 1) / 2) * width
                values = frame[model].to_numpy(dtype=float)
                colour = PALETTE[list(models).index(model) % len(PALETTE)]
                handles[model] = axes.bar(positions + offset, values, width, color=colour)
            axes.set_xticks(positions, [_wrap(str(label)) for label in frame.index], fontsize=8)
            axes.set_title(f"{row}: {panel}", fontsize=10)
            axes.set_ylabel(ylabel, fontsize=9)
            axes.axhline(0.0, color="black", linewidth=0.8)
            axes.grid(axis="y", alpha=0.3)
            axes.set_axisbelow(True)
    shown = [model for model in models if model in handles]
    figure.legend([handles[m] for m in shown], shown, loc="outside lower center", ncols=min(len(shown), 3), fontsize=8)
    figure.suptitle(title, fontsize=11)
    return figure


def cost_quality_figure(
    points: pd.DataFrame, metric: str, datasets: Mapping[str, str], variants: Mapping[str, str], title: str
) -> Figure:
    """Quality against inference cost: one panel per dataset, `metric` over the seconds (log
    scale), a line per variant through its reverse-step settings labelled with K, and a cross
    for its x_t = 0 setting.

    `points`: columns dataset, variant, steps, zero_xt, seconds and `metric`, one row per setting;
    `datasets` and `variants`: key -> display name, in drawing order (a variant keeps its colour).
    """
    figure = Figure(figsize=(6.0 * len(datasets), 4.6), dpi=100, layout="constrained")
    handles = {}
    zeroed_any = False
    for column, (dataset, name) in enumerate(datasets.items()):
        axes = figure.add_subplot(1, len(datasets), column + 1)
        for index, (variant, label) in enumerate(variants.items()):
            colour = PALETTE[index % len(PALETTE)]
            rows = points[(points["dataset"] == dataset) & (points["variant"] == variant)]
            steps = rows[~rows["zero_xt"]].sort_values("steps")
            (handles[label],) = axes.plot(steps["seconds"], steps[metric], marker="o", color=colour)
            for _, row in steps.iterrows():
                axes.annotate(str(row["steps"]), (row["seconds"], row[metric]), textcoords="offset points",
                              xytext=(4, 4), fontsize=7, color=colour)
            zeroed = rows[rows["zero_xt"]]
            axes.scatter(zeroed["seconds"], zeroed[metric], marker="x", s=50, color=colour)
            zeroed_any = zeroed_any or len(zeroed) > 0
        axes.set_xscale("log")
        axes.set_xlabel("inference seconds, all test users (log scale)", fontsize=9)
        axes.set_ylabel(metric, fontsize=9)
        axes.set_title(name, fontsize=10)
        axes.grid(alpha=0.3)
    if zeroed_any:
        # One legend entry for the crosses of every variant, in a neutral colour.
        handles["x_t = 0 (all steps)"] = Line2D([], [], marker="x", linestyle="", color="black")
    figure.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=2, fontsize=8)
    figure.suptitle(title, fontsize=11)
    return figure


def _wrap(label: str) -> str:
    """Put a parenthesised detail on its own line so tick labels stay narrow."""
    return label.replace(" (", "\n(", 1)
