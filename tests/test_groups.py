"""Case-study groups: head items, sequence-length percentile groups (boundaries and ties), metrics
per group, and the seed ensemble of one seed against that seed's own run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from data_stage_support import ML100K_INTER
from diffurec.report.case_study import DatasetCase, VariantRanks, dataset_groups, ensemble_gains
from diffurec.config import ModelConfig
from diffurec.report.groups import (
    HEAD,
    LONG_TAIL,
    Grouping,
    group_metrics,
    head_items,
    length_boundaries,
    length_grouping,
    length_labels,
    popularity_grouping,
)
from diffurec.inference import rank_targets
from diffurec.metrics import ndcg
from diffurec.model import DiffuRec
from diffurec.preprocess import preprocess
from diffurec.sequences import SequenceData, encode, evaluation_windows
from diffurec.split import leave_one_out
from pipeline.files.recbole_inter import read_inter

QUINTILES = (20.0, 40.0, 60.0, 80.0)


@pytest.fixture(scope="module")
def ml100k():
    return encode(leave_one_out(preprocess(read_inter(ML100K_INTER), 5, 5)))


def test_head_is_the_most_frequent_fifth_with_ties_broken_by_item_id():
    # Item ids 1..10 (index 0 is padding and must never count, even with the largest count).
    counts = np.array([99, 5, 9, 7, 7, 1, 0, 7, 2, 3, 4])
    head = head_items(counts, 0.2)
    assert head.shape == (11,)
    # 20% of 10 items = 2: item 2 (9), then the first of the three items with 7.
    assert np.flatnonzero(head).tolist() == [2, 3]
    assert np.flatnonzero(head_items(counts, 0.5)).tolist() == [1, 2, 3, 4, 7]


def test_head_rounds_the_fraction_to_the_nearest_item_count():
    counts = np.concatenate([[0], np.arange(7, 0, -1)])  # 7 items, all counts distinct
    assert head_items(counts, 0.2).sum() == 1  # 1.4 -> 1
    assert head_items(counts, 0.3).sum() == 2  # 2.1 -> 2
    assert head_items(counts, 0.5).sum() == 4  # 3.5 -> 4
    with pytest.raises(ValueError, match="head_fraction"):
        head_items(counts, 1.0)


def test_head_is_a_fifth_of_ml100k_items_and_outnumbers_the_tail_in_interactions(ml100k):
    groups = dataset_groups("ml-100k", ml100k, 0.2, QUINTILES)
    n_head = int(groups.head.sum())
    assert not groups.head[0]
    assert n_head == math.floor(0.2 * ml100k.n_items + 0.5)
    counts = np.bincount(np.concatenate(ml100k.train), minlength=ml100k.n_items + 1)
    assert counts[groups.head].min() >= counts[1:][~groups.head[1:]].max()
    assert groups.head_interaction_share == pytest.approx(counts[groups.head].sum() / counts.sum())
    assert groups.head_interaction_share > 0.2
    expected = np.where(groups.head[ml100k.test], HEAD, LONG_TAIL)
    assert np.array(groups.popularity.labels)[groups.popularity.groups].tolist() == expected.tolist()


def test_popularity_grouping_follows_the_target():
    head = np.array([False, True, False, True])
    grouping = popularity_grouping(np.array([1, 2, 3, 2]), head)
    assert grouping.labels == (HEAD, LONG_TAIL)
    assert grouping.groups.tolist() == [0, 1, 0, 1]
    assert grouping.sizes() == [2, 2]


def test_quintile_boundaries_and_ties_go_to_the_lower_group():
    lengths = np.arange(1, 12)  # 11 users: the quintiles fall exactly on lengths 3, 5, 7, 9
    boundaries = length_boundaries(lengths, QUINTILES)
    assert boundaries.tolist() == [3.0, 5.0, 7.0, 9.0]
    grouping = length_grouping(lengths, boundaries)
    assert grouping.groups.tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert grouping.labels == (
        "G1 (len ≤ 3)",
        "G2 (3 < len ≤ 5)",
        "G3 (5 < len ≤ 7)",
        "G4 (7 < len ≤ 9)",
        "G5 (len > 9)",
    )


def test_repeated_lengths_leave_a_group_empty_instead_of_splitting_them():
    lengths = np.array([8, 2, 1, 2, 3, 2, 4, 5, 6, 7])
    boundaries = length_boundaries(lengths, QUINTILES)
    # Sorted 1 2 2 2 3 4 5 6 7 8; the 20th percentile sits at position 1.8, between two 2s.
    np.testing.assert_allclose(boundaries, [2.0, 2.6, 4.4, 6.2])
    grouping = length_grouping(lengths, boundaries)
    assert grouping.groups.tolist() == [4, 0, 0, 0, 2, 0, 2, 3, 3, 4]
    assert grouping.sizes() == [4, 0, 2, 2, 2]
    assert length_labels(boundaries)[1] == "G2 (2 < len ≤ 2.6)"


def test_ml100k_length_groups_hold_the_lengths_between_their_boundaries(ml100k):
    groups = dataset_groups("ml-100k", ml100k, 0.2, QUINTILES)
    lengths = np.array([len(train) + 2 for train in ml100k.train])
    edges = np.concatenate([[-np.inf], groups.boundaries, [np.inf]])
    for group in range(5):
        members = lengths[groups.length.groups == group]
        assert members.size > 0
        assert (members > edges[group]).all() and (members <= edges[group + 1]).all()
    # Boundaries cut at percentiles: no group holds more than the users up to its upper quintile.
    assert sum(groups.length.sizes()) == len(ml100k.users)
    assert max(groups.length.sizes()) < 0.3 * len(ml100k.users)


def test_group_metrics_average_each_group_over_users_and_runs():
    grouping = Grouping("g", ("a", "b", "empty"), np.array([0, 0, 1]))
    one_run = group_metrics(np.array([1, 11, 3]), grouping, (10,))
    assert one_run.index.tolist() == ["a", "b", "empty"]
    assert one_run.loc["a"].tolist() == [2, 0.5, 0.5]
    assert one_run.loc["b", "HR@10"] == 1.0
    assert one_run.loc["b", "NDCG@10"] == pytest.approx(1 / math.log2(4))
    assert one_run.loc["empty", "users"] == 0 and one_run.loc["empty"].drop("users").isna().all()
    two_runs = group_metrics(np.array([[1, 11, 3], [11, 11, 30]]), grouping, (10,))
    assert two_runs.loc["a", "HR@10"] == 0.25
    assert two_runs.loc["a", "users"] == 2
    with pytest.raises(ValueError, match="users"):
        group_metrics(np.array([1, 2]), grouping, (10,))


def test_an_ensemble_of_one_seed_ranks_exactly_like_that_seed_and_gains_nothing(ml100k):
    torch.manual_seed(0)
    model = DiffuRec(ml100k.n_items, ModelConfig(hidden=16, blocks=1, heads=2, max_len=10, steps=32), "v1")
    # The first 200 users, with every item still in the vocabulary.
    data = SequenceData(ml100k.users[:200], ml100k.items, ml100k.train[:200], ml100k.valid[:200], ml100k.test[:200])
    windows = evaluation_windows(data, "test", 10)
    alone = rank_targets(model, windows, batch_size=256, seed=3, progress=False)
    ensemble = rank_targets([(model, 3)], windows, batch_size=256, progress=False)
    np.testing.assert_array_equal(ensemble, alone)
    assert not np.array_equal(rank_targets(model, windows, batch_size=256, seed=4, progress=False), alone)

    groups = dataset_groups("ml-100k", data, 0.2, QUINTILES)
    case = DatasetCase(groups, {"v1": VariantRanks(alone[None], ensemble)}, {}, ())
    gains = ensemble_gains(case, "NDCG@10", (10,))
    assert gains.columns.tolist() == ["all users", *groups.popularity.labels, *groups.length.labels]
    assert (gains.to_numpy() == 0.0).all()
    # The sign: a better ensemble gains.
    perfect = VariantRanks(alone[None], np.ones_like(alone))
    gains = ensemble_gains(DatasetCase(groups, {"v1": perfect}, {}, ()), "NDCG@10", (10,))
    assert gains.iloc[0]["all users"] == pytest.approx(1.0 - ndcg(alone, 10).mean())
