"""Case-study figures: the fixed user sample, t-SNE that keeps separated groups apart and repeats
for a seed, and figures whose titles, axes, legends and bars say what the data say."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from diffurec.report.figures import group_bars_figure, sample_users, tsne_figure, tsne_points


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
    panels = {"popularity": popularity, "length": lengths}
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
    (legend,) = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == ["A", "B", "C"]
    assert figure.get_suptitle() == "Per-group NDCG@10"
