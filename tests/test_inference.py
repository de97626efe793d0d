import numpy as np
import pytest
import torch

from diffurec.inference import rank_targets, reconstruct_users
from diffurec.metrics import target_ranks
from diffurec.sequences import encode, evaluation_windows
from diffurec.train import build_model
from synthetic import cycle_split, tiny_config


@pytest.fixture(scope="module")
def setup():
    config = tiny_config()
    data = encode(cycle_split(40, 25, seed=1))
    windows = evaluation_windows(data, "valid", config.model.max_len)
    models = [build_model(data.n_items, config.model, "v1", seed) for seed in (0, 1)]
    return windows, models


def raw_scores(model, windows, seed):
    """One batch holding every window: the reverse process and eq. 26 scores, by hand."""
    batch = next(windows.batches(len(windows)))
    generator = torch.Generator().manual_seed(seed)
    model.eval()
    with torch.no_grad():
        scores = model.scores(model.reconstruct(batch.histories, generator))
    return batch, scores


def test_same_seed_same_ranks_and_other_seed_other_reconstructions(setup):
    windows, (model, _) = setup
    first = rank_targets(model, windows, batch_size=16, seed=3, progress=False)
    again = rank_targets(model, windows, batch_size=16, seed=3, progress=False)
    assert np.array_equal(first, again)
    x0 = reconstruct_users(model, windows, batch_size=16, seed=3, progress=False)
    assert np.array_equal(x0, reconstruct_users(model, windows, batch_size=16, seed=3, progress=False))
    assert not np.array_equal(x0, reconstruct_users(model, windows, batch_size=16, seed=4, progress=False))


def test_an_ensemble_of_one_ranks_exactly_like_the_raw_scores_of_that_run(setup):
    windows, (model, _) = setup
    batch, scores = raw_scores(model, windows, seed=5)
    expected = np.empty(len(windows), dtype=np.int64)
    expected[batch.host_rows] = target_ranks(scores, batch.targets).numpy()
    single = rank_targets(model, windows, batch_size=len(windows), seed=5, progress=False)
    ensemble = rank_targets([(model, 5)], windows, batch_size=len(windows), progress=False)
    assert np.array_equal(single, expected)
    assert np.array_equal(ensemble, expected)


def test_ensemble_ranks_by_the_mean_of_the_members_softmax(setup):
    windows, models = setup
    batch, first = raw_scores(models[0], windows, seed=7)
    _, second = raw_scores(models[1], windows, seed=8)
    mean = (torch.softmax(first.double(), dim=1) + torch.softmax(second.double(), dim=1)) / 2
    expected = np.empty(len(windows), dtype=np.int64)
    expected[batch.host_rows] = target_ranks(mean, batch.targets).numpy()
    got = rank_targets([(models[0], 7), (models[1], 8)], windows, batch_size=len(windows), progress=False)
    assert np.array_equal(got, expected)
    assert not np.array_equal(got, rank_targets(models[0], windows, batch_size=len(windows), seed=7, progress=False))


def test_masking_the_history_never_worsens_a_rank(setup):
    windows, (model, _) = setup
    plain = rank_targets(model, windows, batch_size=16, seed=2, progress=False)
    masked = rank_targets(model, windows, batch_size=16, seed=2, mask_history=True, progress=False)
    assert np.all(masked <= plain)
    assert np.any(masked < plain)


def test_evaluation_restores_the_mode_and_leaves_the_global_rng_alone(setup):
    windows, (model, _) = setup
    model.train()
    state = torch.get_rng_state()
    rank_targets(model, windows, batch_size=16, seed=0, progress=False)
    reconstruct_users(model, windows, batch_size=16, seed=0, progress=False)
    assert model.training
    assert torch.equal(state, torch.get_rng_state())


def test_reconstructions_come_back_in_window_order(setup):
    windows, (model, _) = setup
    x0 = reconstruct_users(model, windows, batch_size=len(windows), seed=9, progress=False)
    batch = next(windows.batches(len(windows)))
    model.eval()
    with torch.no_grad():
        by_hand = model.reconstruct(batch.histories, torch.Generator().manual_seed(9))
    assert x0.shape == (len(windows), 32)
    assert np.array_equal(x0[batch.host_rows], by_hand.numpy())
