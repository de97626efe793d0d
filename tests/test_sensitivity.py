"""benchmarks/sensitivity.py: x_t reaches x0_hat only through lambda * (x_t + d), so its influence is
zero at delta = 0 and, for small delta, proportional to delta."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from diffurec.train import build_model
from sensitivity import history_sensitivity, x_t_sensitivity
from tests.synthetic import tiny_config


def _model(variant: str, delta: float):
    config = tiny_config().model
    return build_model(30, dataclasses.replace(config, lambda_delta=delta), variant, seed=0)


def _histories() -> torch.Tensor:
    histories = torch.randint(1, 31, (64, 10), generator=torch.Generator().manual_seed(1))
    histories[:8, :4] = 0  # some left padding
    return histories


@pytest.mark.parametrize("variant", ["baseline", "v1"])
def test_x_t_has_no_influence_without_lambda(variant):
    assert x_t_sensitivity(_model(variant, 0.0), _histories(), 5, torch.Generator().manual_seed(0)) == 0.0


@pytest.mark.parametrize("variant", ["baseline", "v1"])
def test_x_t_influence_is_first_order_in_delta_and_dwarfed_by_the_history(variant):
    small, large = (x_t_sensitivity(_model(variant, delta), _histories(), 5, torch.Generator().manual_seed(0))
                    for delta in (1e-3, 1e-2))
    assert small > 0 and large / small == pytest.approx(10.0, rel=0.05)
    history = history_sensitivity(_model(variant, 1e-3), _histories(), 5, torch.Generator().manual_seed(0))
    assert history > 100 * small


def test_measures_leave_the_model_in_training_mode_and_repeat_exactly():
    model = _model("v1", 1e-3)
    first = x_t_sensitivity(model, _histories(), 3, torch.Generator().manual_seed(7))
    assert model.training
    assert x_t_sensitivity(model, _histories(), 3, torch.Generator().manual_seed(7)) == first
