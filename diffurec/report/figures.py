"""The case study's and the ablations' figures as matplotlib `Figure` objects (the caller saves them).

The t-SNE view of the representations a model scores items against (the paper's Figures 3-6), bar
charts of a metric per user group, and the inference ablations as differences from the full reverse
process. Figures are built without pyplot, so no global state is touched and the same inputs draw
the same picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patheffects import withStroke
from sklearn.manifold import TSNE

from diffurec.variants import VARIANT_NAMES, find_variant

# Okabe-Ito's blue, vermillion, green, purple and yellow, then grey, brown and indigo: Okabe-Ito's
# sky blue and orange sit too close to its blue and vermillion to tell eight bars apart. Every pair
# is more than 36 apart in CIELAB (CIE76 distance; tests/test_figures.py measures it).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#F0E442", "#BBBBBB", "#8C564B", "#332288")
# An interval's line keeps a white rim, so that it shows on a dark bar as on the background.
RIMMED = [withStroke(linewidth=2.6, foreground="white")]
# The ablation figure's y axis spans at least ± this many percentage points around zero: the gains
# the paper reports are of that order (C1: +1.5 points), so a difference of hundredths of a point
# stays flat on the zero line instead of filling the panel.
MIN_HALF_RANGE_POINTS = 1.0


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


def tsne_subject(variant: str) -> str:
    """What a t-SNE figure shows for `variant`: a diffusion model's x0 comes out of its reverse
    process; the control has none, so its points are the one pass's output over the history."""
    if find_variant(variant).diffusion:
        return "reconstructed x0 (reverse process)"
    return "history representation (one pass, no diffusion)"


def tsne_title(dataset_name: str, variant: str, users: int, seed: int) -> str:
    return (f"t-SNE of the {tsne_subject(variant)}, {users} test users\n{dataset_name}, {VARIANT_NAMES[variant]}, "
            f"model of seed {seed}")


@dataclass(frozen=True)
class BarPanel:
    """One panel of `group_bars_figure`: `values` indexed by group label (x axis, in order) with one
    column per model; `low` and `high`, frames of the same shape, each bar's interval, or None for
    bars without one."""

    values: pd.DataFrame
    low: pd.DataFrame | None = None
    high: pd.DataFrame | None = None


def group_bars_figure(
    rows: Mapping[str, Mapping[str, BarPanel]], models: Sequence[str], ylabel: str, title: str
) -> Figure:
    """A grid of bar charts: one row per key of `rows` (e.g. a dataset), one panel per grouping.

    A model keeps its colour (its place in `models`) in every panel; a NaN (an empty group) draws
    no bar; an interval is a black line with caps over its bar.
    """
    first = next(iter(rows.values()))
    widths = [max(2.5, 1.2 * len(panel.values.index)) for panel in first.values()]
    figure = Figure(figsize=(sum(widths) + 1.0, 0.8 + 3.6 * len(rows)), dpi=100, layout="constrained")
    grid = figure.add_gridspec(len(rows), len(widths), width_ratios=widths)
    handles = {}
    for r, (row, panels) in enumerate(rows.items()):
        for c, (name, panel) in enumerate(panels.items()):
            axes = figure.add_subplot(grid[r, c])
            positions = np.arange(len(panel.values.index))
            width = 0.8 / max(1, len(panel.values.columns))
            for i, model in enumerate(panel.values.columns):
                x = positions + (i - (len(panel.values.columns) - 1) / 2) * width
                values = panel.values[model].to_numpy(dtype=float)
                colour = PALETTE[list(models).index(model) % len(PALETTE)]
                handles[model] = axes.bar(x, values, width, color=colour, edgecolor="black", linewidth=0.4)
                if panel.low is not None and panel.high is not None:
                    low, high = (panel.low[model].to_numpy(dtype=float), panel.high[model].to_numpy(dtype=float))
                    _interval(axes, x, values, low, high)
            axes.set_xticks(positions, [_wrap(str(label)) for label in panel.values.index], fontsize=8)
            axes.set_title(f"{row}: {name}", fontsize=10)
            axes.set_ylabel(ylabel, fontsize=9)
            axes.axhline(0.0, color="black", linewidth=0.8)
            axes.grid(axis="y", alpha=0.3)
            axes.set_axisbelow(True)
    shown = [model for model in models if model in handles]
    figure.legend([handles[m] for m in shown], shown, loc="outside lower center", ncols=min(len(shown), 4), fontsize=8)
    figure.suptitle(title, fontsize=10)
    return figure


def _interval(axes, x: np.ndarray, values: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
    """Vertical lines from `low` to `high` at `x`, capped, with a white rim (RIMMED)."""
    bars = axes.errorbar(x, values, yerr=[values - low, high - values], fmt="none", ecolor="black",
                         elinewidth=0.9, capsize=2.0, capthick=0.9)
    for artist in (*bars.lines[1], *bars.lines[2]):
        artist.set_path_effects(RIMMED)


def ablation_differences_figure(
    differences: pd.DataFrame, datasets: Mapping[str, str], variants: Mapping[str, str], ylabel: str, title: str
) -> Figure:
    """Each inference setting's difference from the full reverse process: one panel per dataset,
    the settings along x, a zero line, and per variant (offset side by side) the mean over seeds
    with an error bar of ± 1 std of the seeds' differences and each seed's difference as a dot.

    `differences`: columns dataset, variant, setting (the x tick label; first appearance gives the
    order) and points, one row per seed and setting; `datasets` and `variants`: key -> display
    name, in drawing order (a variant keeps its colour). With one seed the std is undefined and
    no bar is drawn. The y axis is symmetric around zero, at least ± MIN_HALF_RANGE_POINTS.
    """
    settings = list(pd.unique(differences["setting"]))
    positions = {setting: float(i) for i, setting in enumerate(settings)}
    summary = differences.groupby(["dataset", "variant", "setting"], sort=False)["points"].agg(["mean", "std"])
    reach = max([*differences["points"].abs(), *(summary["mean"].abs() + summary["std"].fillna(0.0))], default=0.0)
    half_range = max(MIN_HALF_RANGE_POINTS, 1.1 * reach)
    width = 0.8 / max(1, len(variants))
    figure = Figure(figsize=(1.0 + max(4.0, 1.1 * len(settings)) * len(datasets), 4.8), dpi=100, layout="constrained")
    handles = {}
    for column, (dataset, name) in enumerate(datasets.items()):
        axes = figure.add_subplot(1, len(datasets), column + 1)
        axes.axhline(0.0, color="black", linewidth=0.8)
        for index, (variant, label) in enumerate(variants.items()):
            colour = PALETTE[index % len(PALETTE)]
            offset = (index - (len(variants) - 1) / 2) * width
            spread = summary.loc[(dataset, variant)]
            handles[label] = axes.errorbar(spread.index.map(positions).to_numpy() + offset, spread["mean"],
                                           yerr=spread["std"], fmt="o", markersize=5, capsize=3.0, color=colour)
            seeds = differences[(differences["dataset"] == dataset) & (differences["variant"] == variant)]
            axes.scatter(seeds["setting"].map(positions).to_numpy() + offset, seeds["points"], s=14,
                         facecolors="none", edgecolors=colour, linewidths=0.8)
        if differences.empty:
            axes.text(0.5, 0.5, "no diffusion model: no reverse process to ablate", transform=axes.transAxes,
                      ha="center", fontsize=9)
        axes.set_ylim(-half_range, half_range)
        axes.set_xticks(list(positions.values()), [_wrap(setting) for setting in settings], fontsize=8)
        axes.set_xlabel("setting: K of the T reverse steps (respaced), or all T with x_t = 0", fontsize=9)
        axes.set_ylabel(ylabel, fontsize=9)
        axes.set_title(name, fontsize=10)
        axes.grid(axis="y", alpha=0.3)
    if handles:
        figure.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=min(len(handles), 3),
                      fontsize=8)
    figure.suptitle(title, fontsize=10)
    return figure


def _wrap(label: str) -> str:
    """Put a parenthesised detail on its own line so tick labels stay narrow."""
    return label.replace(" (", "\n(", 1)
