"""The control, "Transformer, no diffusion": DiffuRec's approximator with the diffusion taken out."""

import numpy as np
import pytest
import torch

from diffurec.config import ModelConfig
from diffurec.diffusion import ReverseOptions
from diffurec.inference import rank_targets
from diffurec.model import Control, DiffuRec, new_model
from diffurec.sequences import encode, evaluation_windows
from diffurec.train import build_model, fit
from synthetic import cycle_split, tiny_config

CONFIG = ModelConfig(hidden=16, blocks=2, heads=2, max_len=6)


def test_new_model_builds_the_control_only_for_the_control():
    assert type(new_model(20, CONFIG, "control")) is Control
    assert all(type(new_model(20, CONFIG, v)) is DiffuRec for v in ("baseline", "v1", "v2"))
    with pytest.raises(ValueError, match="no diffusion"):
        DiffuRec(20, CONFIG, "control")
    with pytest.raises(ValueError, match="is a diffusion model"):
        Control(20, CONFIG, "baseline")


def test_the_control_has_the_approximator_without_its_diffusion_parts():
    control = new_model(20, CONFIG, "control").approximator
    diffurec = new_model(20, CONFIG, "baseline").approximator
    assert control.step_mlp is None and control.cross is None
    # Everything else is the same network: the same parameters by name and shape.
    shapes = {name: p.shape for name, p in diffurec.named_parameters() if not name.startswith("step_mlp.")}
    assert {name: p.shape for name, p in control.named_parameters()} == shapes


def test_the_control_scores_a_history_by_one_pass_of_the_blocks_over_its_embeddings():
    torch.manual_seed(0)
    model = new_model(20, CONFIG, "control").eval()
    history = torch.tensor([[0, 0, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]])
    approximator = model.approximator
    with torch.no_grad():
        encoded = approximator.encode(history)
        by_hand = approximator.transform(encoded.hidden, encoded.keep)
        assert torch.equal(model.reconstruct(history), by_hand)
        # The blocks see no condition at all: DiffuRec's denoise with lambda = 0 is the same pass.
        zeros = torch.zeros_like(encoded.hidden)
        assert torch.allclose(approximator.denoise(encoded, torch.zeros(2, 16), torch.zeros(1, 16), zeros), by_hand)


def test_the_control_takes_no_reverse_process_ablation():
    model = new_model(20, CONFIG, "control").eval()
    with pytest.raises(ValueError, match="no reverse process"):
        model.reconstruct(torch.ones(1, 3, dtype=torch.long), reverse=ReverseOptions(steps=2))


def test_the_controls_scores_do_not_depend_on_any_noise_seed_at_evaluation():
    config = tiny_config(epochs=1)
    data = encode(cycle_split(60, 25, seed=1))
    model = build_model(data.n_items, config.model, "control", seed=0)
    fit(model, data, config, seed=0, progress=False)
    windows = evaluation_windows(data, "test", config.model.max_len)
    ranks = [rank_targets(model, windows, batch_size=16, seed=seed, progress=False) for seed in (0, 1, 12345)]
    # The global RNG does not reach it either.
    torch.manual_seed(99)
    ranks.append(rank_targets(model, windows, batch_size=7, seed=5, progress=False))
    for other in ranks[1:]:
        np.testing.assert_array_equal(other, ranks[0])
    # A diffusion model trained the same way does move with the seed (the check can fail).
    diffurec = build_model(data.n_items, config.model, "baseline", seed=0)
    fit(diffurec, data, config, seed=0, progress=False)
    scores = []
    for seed in (0, 1):
        batch = next(windows.batches(len(windows)))
        with torch.no_grad():
            diffurec.eval()
            scores.append(diffurec.scores(diffurec.reconstruct(batch.histories, torch.Generator().manual_seed(seed))))
    assert not torch.equal(scores[0], scores[1])
