"""Dropout with processor-independent masks: its mask is torch's uniform stream compared with p,
its scale torch's, and RecBole's models get it inside a session and only there."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from diffurec.dropout import Dropout, dropout
from pipeline.recbole_compat import recbole_session


def test_the_mask_is_the_uniform_stream_compared_with_p():
    x = torch.arange(1.0, 2001.0).reshape(40, 50)
    torch.manual_seed(7)
    dropped = dropout(x, 0.3)
    torch.manual_seed(7)
    kept = torch.rand(40, 50) >= 0.3
    assert torch.equal(dropped, torch.where(kept, x * (1.0 / 0.7), torch.zeros(())))


def test_each_element_is_dropped_with_probability_p():
    torch.manual_seed(0)
    dropped = dropout(torch.ones(200_000), 0.1)
    share = (dropped == 0).double().mean().item()
    # Binomial(200000, 0.1): a standard deviation of 0.00067, so 5 of them is 0.0034.
    assert abs(share - 0.1) < 0.0034
    assert torch.allclose(dropped[dropped != 0], torch.tensor(1.0 / 0.9))


def test_identity_in_eval_mode_or_at_zero_and_zeros_at_one():
    x = torch.randn(8, 4)
    state = torch.get_rng_state()
    assert torch.equal(dropout(x, 0.5, training=False), x)
    assert torch.equal(dropout(x, 0.0), x)
    # Neither draws a random number.
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))


def test_the_module_is_an_nn_dropout_and_in_place_writes_into_its_input():
    module = Dropout(0.5, inplace=True)
    assert isinstance(module, nn.Dropout)
    x = torch.ones(6, 6)
    torch.manual_seed(3)
    out = module(x)
    assert out is x and set(x.unique().tolist()) <= {0.0, 2.0}
    module.eval()
    assert torch.equal(module(torch.ones(3)), torch.ones(3))


def test_gradients_flow_through_the_kept_elements_only():
    x = torch.ones(100, requires_grad=True)
    torch.manual_seed(1)
    dropout(x, 0.5).sum().backward()
    torch.manual_seed(1)
    kept = torch.rand(100) >= 0.5
    assert torch.equal(x.grad, kept.float() * 2.0)


def test_recbole_models_drop_out_with_it_inside_a_session_only(tmp_path):
    layer = nn.Dropout(0.4)
    x = torch.ones(30, 30)
    with recbole_session(tmp_path / "recbole.log", "test"):
        torch.manual_seed(5)
        inside = layer(x)
    torch.manual_seed(5)
    assert torch.equal(inside, dropout(x, 0.4))
    assert F.dropout is not dropout


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_the_approximators_dropout_sites_use_it(p):
    from diffurec.approximator import Approximator
    from diffurec.config import ModelConfig

    network = Approximator(20, ModelConfig(hidden=8, heads=2, blocks=1, max_len=5, dropout=p), cross_attention=True)
    sites = [module for module in network.modules() if isinstance(module, nn.Dropout)]
    assert sites and all(isinstance(module, Dropout) for module in sites)


def test_attention_drops_its_probabilities_with_it_in_training():
    from diffurec.approximator import Attention

    torch.manual_seed(0)
    attention = Attention(hidden=8, heads=2, dropout=0.5).train()
    context, query = torch.randn(3, 5, 8), torch.randn(3, 2, 8)
    keep = torch.ones(3, 5, dtype=torch.bool)
    keep[0, :2] = False
    keys, values = attention.keys_values(context)
    torch.manual_seed(11)
    out = attention(query, keys, values, keep, "keys")

    q = attention.query(query).view(3, 2, 2, 4).transpose(1, 2)
    scores = (q @ keys.transpose(-2, -1) / 2.0).masked_fill(~keep[:, None, None, :], float("-inf"))
    torch.manual_seed(11)
    probabilities = dropout(scores.softmax(dim=-1), 0.5)
    expected = attention.out((probabilities @ values).transpose(1, 2).reshape(3, 2, 8))
    assert torch.allclose(out, expected, atol=1e-6)
    assert (probabilities[0, :, :, :2] == 0).all()
