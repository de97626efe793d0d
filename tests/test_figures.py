"""Report figures: the fixed user sample, t-SNE that keeps separated groups apart and repeats for a
seed, and figures whose titles, axes, legends, bars, intervals, points and lines say what the data
say: the per-group bars, the ablations' differences and the learning curves."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from matplotlib.colors import to_rgb

from diffurec.report.ablation import SettingRun, setting_differences
from diffurec.report.curves import Curve, learning_curves_figure
from diffurec.report.figures import (
    MIN_HALF_RANGE_POINTS,
    BarPanel,
    ablation_differences_figure,
    group_bars_figure,
    sample_users,
    tsne_figure,
    tsne_points,
    tsne_title,
)
from diffurec.variants import VARIANTS, find_variant


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _blobs(n: int = 40, dims: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clouds whose centres are 20 standard deviations apart."""
    rng = np.random.default_rng(7)
    labels = np.repeat(["head", "long-tail"], n)
    x = rng.normal(size=(2 * n, dims))
    x[n:, 0] += 20.0
    return x, labels


def test_user_sample_is_fixed_by_its_seed_sorted_and_capped():
    first = sample_users(1000, 50, seed=3)
    assert first.tolist() == sample_users(1000, 50, seed=3).tolist()
    assert first.tolist() != sample_users(1000, 50, seed=4).tolist()
    assert len(set(first.tolist())) == 50 and (np.diff(first) > 0).all() and first.max() < 1000
    assert sample_users(30, 50, seed=3).tolist() == list(range(30))


def test_tsne_keeps_separated_clouds_apart_and_repeats_for_a_seed():
    x, labels = _blobs()
    points = tsne_points(x, perplexity=10.0, seed=0)
    assert points.shape == (len(x), 2)
    np.testing.assert_array_equal(points, tsne_points(x, perplexity=10.0, seed=0))
    distances = np.linalg.norm(points[:, None] - points[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    assert (labels[distances.argmin(axis=1)] == labels).all()
    with pytest.raises(ValueError, match="perplexity"):
        tsne_points(x, perplexity=len(x), seed=0)


def test_tsne_figure_names_its_axes_title_and_classes_with_counts():
    x, labels = _blobs(n=5, dims=2)
    labels[0] = "long-tail"
    figure = tsne_figure(x, labels, ("head", "long-tail"), "test item", "ML-100K, V1 (+cross-attention)")
    (axes,) = figure.axes
    assert axes.get_title() == "ML-100K, V1 (+cross-attention)"
    assert axes.get_xlabel() == "t-SNE dimension 1" and axes.get_ylabel() == "t-SNE dimension 2"
    legend = axes.get_legend()
    assert legend.get_title().get_text() == "test item"
    assert [text.get_text() for text in legend.get_texts()] == ["head (n = 4)", "long-tail (n = 6)"]
    # Each class is drawn at its own points.
    drawn = {tuple(map(tuple, collection.get_offsets())) for collection in axes.collections}
    assert drawn == {tuple(map(tuple, x[labels == label])) for label in ("head", "long-tail")}


def test_saved_figures_are_byte_for_byte_repeatable_and_small():
    x, labels = _blobs(n=250, dims=2)
    first = _png(tsne_figure(x, labels, ("head", "long-tail"), "test item", "title"))
    assert first == _png(tsne_figure(x, labels, ("head", "long-tail"), "test item", "title"))
    assert first.startswith(b"\x89PNG") and len(first) < 200_000


def test_bar_figure_draws_one_bar_per_model_and_group_with_stable_colours():
    popularity = pd.DataFrame({"A": [0.3, 0.1], "B": [0.2, 0.05]}, index=["head", "long-tail"])
    lengths = pd.DataFrame({"A": [0.1, np.nan, 0.2], "C": [0.4, 0.3, -0.1]}, index=["G1 (len ≤ 3)", "G2", "G3"])
    panels = {"popularity": BarPanel(popularity), "length": BarPanel(lengths)}
    rows = {"ML-100K": panels, "ML-1M": panels}
    figure = group_bars_figure(rows, ["A", "B", "C"], "NDCG@10", "Per-group NDCG@10")
    assert len(figure.axes) == 4
    first, second = figure.axes[:2]
    assert first.get_title() == "ML-100K: popularity" and first.get_ylabel() == "NDCG@10"
    assert [label.get_text() for label in second.get_xticklabels()] == ["G1\n(len ≤ 3)", "G2", "G3"]
    heights = [patch.get_height() for patch in first.patches]
    assert heights == [0.3, 0.1, 0.2, 0.05]
    # A model keeps its colour across panels; C, absent from the first panel, still gets its own.
    colour_a, colour_b = first.patches[0].get_facecolor(), first.patches[2].get_facecolor()
    assert {patch.get_facecolor() for patch in second.patches[:3]} == {colour_a}
    assert second.patches[3].get_facecolor() not in (colour_a, colour_b)
    assert np.isnan([patch.get_height() for patch in second.patches]).sum() == 1
    # No interval given, none drawn.
    assert not first.collections
    (legend,) = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == ["A", "B", "C"]
    assert figure.get_suptitle() == "Per-group NDCG@10"


def test_bar_figure_draws_each_interval_from_its_low_to_its_high_end():
    index = pd.Index(["head", "long-tail"])
    values = pd.DataFrame({"A": [0.3, 0.1], "B": [0.2, np.nan]}, index=index)
    low = pd.DataFrame({"A": [0.25, 0.05], "B": [0.1, np.nan]}, index=index)
    high = pd.DataFrame({"A": [0.32, 0.2], "B": [0.4, np.nan]}, index=index)
    figure = group_bars_figure({"ML-100K": {"popularity": BarPanel(values, low, high)}}, ["A", "B"], "NDCG@10", "t")
    (axes,) = figure.axes
    # Each interval is a vertical segment (x, low) -> (x, high); an empty group's has no points.
    ends = [tuple(segment.ravel().round(6)) for collection in axes.collections
            for segment in collection.get_segments() if len(segment)]
    a_head, a_tail, b_head, _ = (round(patch.get_x() + patch.get_width() / 2, 6) for patch in axes.patches)
    assert ends == [(a_head, 0.25, a_head, 0.32), (a_tail, 0.05, a_tail, 0.2), (b_head, 0.1, b_head, 0.4)]


def _lab(colour) -> np.ndarray:
    """CIELAB (D65) of an sRGB colour, the space in which distance approximates perceived difference."""
    rgb = np.array(to_rgb(colour))
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    f = np.cbrt(xyz / np.array([0.95047, 1.0, 1.08883]))
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_eight_models_get_eight_clearly_different_colours():
    models = [f"model {i}" for i in range(8)]
    values = pd.DataFrame({model: [0.1 + 0.01 * i] for i, model in enumerate(models)}, index=["all"])
    figure = group_bars_figure({"ML-100K": {"all": BarPanel(values)}}, models, "NDCG@10", "t")
    colours = [patch.get_facecolor() for patch in figure.axes[0].patches]
    distances = [np.linalg.norm(_lab(a) - _lab(b)) for i, a in enumerate(colours) for b in colours[i + 1:]]
    # 2.3 is a just-noticeable difference; Okabe-Ito's blue and sky blue, which looked alike, are 26 apart.
    assert len(colours) == 8 and min(distances) > 36


def test_the_tsne_title_says_what_each_model_reconstructs():
    for variant in VARIANTS:
        title = tsne_title("MovieLens-100K", variant, 300, 0)
        assert title.endswith("300 test users\nMovieLens-100K, " + find_variant(variant).name + ", model of seed 0")
        assert ("reconstructed x0" in title) == find_variant(variant).diffusion
    assert "no diffusion" in tsne_title("MovieLens-100K", "control", 300, 0)


def _ablation_runs() -> dict:
    """Two seeds of v1 and of v2 with two settings each, and the control's one pass; NDCG@10 chosen
    so that each difference from the full process (0.05 and 0.06 per seed) is known."""
    def setting(name: str, ndcg: float) -> SettingRun:
        steps = (31,) if name == "steps=1" else tuple(range(32))
        return SettingRun(name, 32, steps, name == "zero_xt", 1.0, {"NDCG@10": ndcg})

    return {
        ("ml-100k", "v1"): [[setting("steps=1", 0.052), setting("zero_xt", 0.0501)],
                            [setting("steps=1", 0.066), setting("zero_xt", 0.0599)]],
        ("ml-100k", "v2"): [[setting("steps=1", 0.05), setting("zero_xt", 0.05)],
                            [setting("steps=1", 0.06), setting("zero_xt", 0.06)]],
        ("ml-100k", "control"): [[SettingRun("one_pass", 0, (), False, 0.1, {"NDCG@10": 0.07})]] * 2,
    }


def test_the_ablation_figure_plots_each_settings_difference_from_the_full_process_with_its_seed_spread():
    runs = _ablation_runs()
    full = {("ml-100k", "v1"): (0.05, 0.06), ("ml-100k", "v2"): (0.05, 0.06)}
    differences = setting_differences(runs, full, "NDCG@10")
    figure = ablation_differences_figure(differences, {"ml-100k": "MovieLens-100K"},
                                         {"v1": "V1", "v2": "V2"}, "Δ NDCG@10 (points)", "title")
    (axes,) = figure.axes
    assert [label.get_text() for label in axes.get_xticklabels()] == ["1 of 32 steps", "x_t = 0\n(32 of 32 steps)"]
    assert [list(line.get_ydata()) for line in axes.lines if line.get_linestyle() == "-"] == [[0.0, 0.0]]
    # Per variant (v1 left of v2) the mean of the seeds' differences in points, ± their sample std.
    (v1_means, _, (v1_bars,)), (v2_means, _, _) = (container.lines for container in axes.containers)
    np.testing.assert_allclose(v1_means.get_ydata().astype(float), [(0.2 + 0.6) / 2, 0.0], atol=1e-9)
    np.testing.assert_allclose(v2_means.get_ydata().astype(float), [0.0, 0.0], atol=1e-9)
    assert all(v1_means.get_xdata() < v2_means.get_xdata())
    spreads = [np.std([0.2, 0.6], ddof=1), np.std([0.01, -0.01], ddof=1)]
    ends = [(segment[0, 1], segment[1, 1]) for segment in v1_bars.get_segments()]
    expected = [(0.4 - spreads[0], 0.4 + spreads[0]), (-spreads[1], spreads[1])]
    np.testing.assert_allclose(ends, expected, atol=1e-9)
    # Each seed's difference as a dot, and a window of at least ± 1 point around zero.
    dots = axes.collections[1].get_offsets()
    np.testing.assert_allclose(dots[:, 1], [0.2, 0.01, 0.6, -0.01], atol=1e-9)
    assert axes.get_ylim() == (-MIN_HALF_RANGE_POINTS, MIN_HALF_RANGE_POINTS)
    (legend,) = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == ["V1", "V2"]


def test_the_ablation_figure_widens_its_window_to_a_large_difference():
    runs = {("ml-100k", "v1"): [[SettingRun("steps=1", 32, (31,), False, 1.0, {"NDCG@10": 0.02})]]}
    differences = setting_differences(runs, {("ml-100k", "v1"): (0.05,)}, "NDCG@10")
    figure = ablation_differences_figure(differences, {"ml-100k": "MovieLens-100K"}, {"v1": "V1"}, "Δ", "title")
    low, high = figure.axes[0].get_ylim()
    assert low == -high and low < -3.0


def _curve(seed: int, scores: list[float], cap: int = 6) -> Curve:
    return Curve(seed, tuple(range(1, len(scores) + 1)), tuple(scores), len(scores), cap)


def test_learning_curves_draw_a_line_per_model_and_seed_the_cap_and_the_runs_that_reached_it():
    curves = {
        ("ml-100k", "v1"): [_curve(0, [0.01, 0.03, 0.02]), _curve(1, [0.01, 0.02, 0.03, 0.04, 0.05, 0.06])],
        ("ml-100k", "control"): [_curve(0, [0.02, 0.04, 0.03, 0.03]), _curve(1, [0.03, 0.02, 0.01])],
    }
    figure = learning_curves_figure(curves, {"ml-100k": "MovieLens-100K"}, {"v1": "V1", "control": "Control"})
    assert [axes.get_title() for axes in figure.axes] == ["MovieLens-100K: V1", "MovieLens-100K: Control"]
    for axes, runs in zip(figure.axes, curves.values()):
        lines = {line.get_label(): line for line in axes.lines if line.get_label().startswith("seed")}
        assert sorted(lines) == ["seed 0", "seed 1"]
        for curve in runs:
            assert list(lines[f"seed {curve.seed}"].get_xdata()) == list(curve.epochs)
            assert list(lines[f"seed {curve.seed}"].get_ydata()) == list(curve.scores)
        caps = [line for line in axes.lines if line.get_linestyle() == "--"]
        assert [list(line.get_xdata()) for line in caps] == [[6, 6]]
        assert axes.get_xlim() == (0.0, 7.0)
    # Only v1's seed 1 trained all 6 epochs: one square, on its last point.
    squares = [(line.get_xdata(), line.get_ydata()) for axes in figure.axes for line in axes.lines
               if line.get_marker() == "s"]
    assert [(list(x), list(y)) for x, y in squares] == [([6], [0.06])]
    (legend,) = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == [
        "seed 0", "seed 1", "epoch cap (train.epochs = 6)", "run that reached the cap"
    ]
    assert "re-run baselines, one run each" in figure.get_suptitle()


def test_the_new_figures_are_byte_for_byte_repeatable():
    full = {("ml-100k", "v1"): (0.05, 0.06), ("ml-100k", "v2"): (0.05, 0.06)}
    differences = setting_differences(_ablation_runs(), full, "NDCG@10")
    curves = {("ml-100k", "v1"): [_curve(0, [0.01, 0.03]), _curve(1, [0.02, 0.01])]}
    draws = (
        lambda: ablation_differences_figure(differences, {"ml-100k": "ML"}, {"v1": "V1", "v2": "V2"}, "Δ", "t"),
        lambda: learning_curves_figure(curves, {"ml-100k": "ML"}, {"v1": "V1"}),
    )
    for draw in draws:
        assert _png(draw()) == _png(draw())
