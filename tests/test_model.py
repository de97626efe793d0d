"""DiffuRec end to end: Algorithm 1's loss and noise, Algorithm 2's reproducibility, eq. 26's scores,
and a small problem whose right answer is known."""

import math

import pytest
import torch
import torch.nn.functional as F

from diffurec.config import ModelConfig
from diffurec.errors import ConfigError
from diffurec.model import DiffuRec

N_ITEMS = 20
CONFIG = ModelConfig(hidden=32, blocks=1, heads=2, max_len=8)


def _model(variant: str, seed: int = 0, **overrides) -> DiffuRec:
    torch.manual_seed(seed)
    return DiffuRec(N_ITEMS, ModelConfig(**{**CONFIG.__dict__, **overrides}), variant)


def _cyclic_batch(generator: torch.Generator, batch: int = 64, length: int = 6):
    """Runs of consecutive item ids (wrapping at N_ITEMS), left-padded; the target continues the run."""
    start = torch.randint(1, N_ITEMS + 1, (batch,), generator=generator)
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    offsets = torch.arange(length)[None] - (length - lengths[:, None])
    history = torch.where(offsets >= 0, (start[:, None] - 1 + offsets) % N_ITEMS + 1, 0)
    return history, (start - 1 + lengths) % N_ITEMS + 1


def _train(model: DiffuRec, steps: int, seed: int) -> list[float]:
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in range(steps):
        loss = model(*_cyclic_batch(generator))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _loss_and_prediction(model: DiffuRec):
    """The training loss of a small batch, and the x0_hat and targets behind it (same draws)."""
    history, target = _cyclic_batch(torch.Generator().manual_seed(1), batch=8)
    torch.manual_seed(2)
    loss = model(history, target)
    torch.manual_seed(2)
    x_t, t = model.diffuse(target)
    return loss, model.approximator(history, x_t, t), target


def test_unknown_variant_is_refused():
    with pytest.raises(ConfigError, match="unknown variant"):
        DiffuRec(N_ITEMS, CONFIG, "v3")


@pytest.mark.parametrize("variant", ["baseline", "v1", "v2"])
def test_loss_is_cross_entropy_over_real_items_only(variant):
    model = _model(variant)
    loss, x0_hat, target = _loss_and_prediction(model)
    logits = x0_hat @ model.item_embeddings.T
    expected = F.cross_entropy(logits[:, 1:], target - 1)
    torch.testing.assert_close(loss, expected)
    # Row 0 is neither a class nor an attended key, so the loss cannot reach it at all.
    loss.backward()
    embedding_grad = model.approximator.item_embedding.weight.grad
    assert torch.count_nonzero(embedding_grad[0]) == 0 and torch.count_nonzero(embedding_grad[1:]) > 0


@pytest.mark.parametrize("x0", ["one_step", "embedding"])
def test_diffuse_follows_eq_19_and_20(x0):
    model = _model("v1", x0=x0)
    target = torch.tensor([3, 7, 7, 20])
    torch.manual_seed(3)
    x_t, t = model.diffuse(target)
    torch.manual_seed(3)
    expected_t = torch.randint(CONFIG.steps, (4,))
    embedding = model.item_embeddings[target]
    if x0 == "one_step":
        alpha0 = 1 - model.schedule.betas[0].item()
        embedding = math.sqrt(alpha0) * embedding + math.sqrt(1 - alpha0) * torch.randn(embedding.shape)
    alpha_bar = model.schedule.alpha_bars[expected_t].float()[:, None]
    expected = alpha_bar.sqrt() * embedding + (1 - alpha_bar).sqrt() * torch.randn(embedding.shape)
    assert torch.equal(t, expected_t)
    torch.testing.assert_close(x_t, expected)


@pytest.mark.parametrize("mode", ["constant", "per_sample", "per_element"])
def test_offset_noise_changes_the_forward_draw_only_for_v2(mode):
    target = torch.arange(1, 9)
    reference = _model("v1", seed=4)
    draws = {}
    for variant in ("baseline", "v1", "v2"):
        model = _model(variant, offset=0.1, delta_c=2.0, offset_mode=mode)
        model.approximator.item_embedding.load_state_dict(reference.approximator.item_embedding.state_dict())
        torch.manual_seed(5)
        draws[variant] = model.diffuse(target)
    (x_base, t_base), (x_v1, t_v1), (x_v2, t_v2) = draws["baseline"], draws["v1"], draws["v2"]
    assert torch.equal(t_base, t_v1) and torch.equal(t_v1, t_v2)
    torch.testing.assert_close(x_base, x_v1)
    sigma = model.sqrt_one_minus_alpha_bars[t_v2][:, None]
    shift = (x_v2 - x_v1) / sigma
    if mode == "constant":
        torch.testing.assert_close(shift, torch.full_like(shift, 0.1 * 2.0))
    elif mode == "per_sample":
        torch.testing.assert_close(shift, shift[:, :1].expand_as(shift))
        assert shift[:, 0].abs().min() > 0
    else:
        assert (shift - shift[:, :1]).abs().amax(dim=1).min() > 0


def test_reverse_process_of_v2_draws_standard_noise():
    v1 = _model("v1", seed=6)
    v2 = _model("v2", seed=7, offset=0.5)
    v2.load_state_dict(v1.state_dict())
    history, _ = _cyclic_batch(torch.Generator().manual_seed(8), batch=6)
    v1.eval(), v2.eval()
    assert torch.equal(
        v1.reconstruct(history, torch.Generator().manual_seed(9)),
        v2.reconstruct(history, torch.Generator().manual_seed(9)),
    )


def test_training_and_evaluation_are_bit_for_bit_repeatable():
    runs = []
    for _ in range(2):
        model = _model("v2", seed=10)
        losses = _train(model, steps=4, seed=11)
        model.eval()
        history, _ = _cyclic_batch(torch.Generator().manual_seed(12), batch=16)
        runs.append((losses, model.state_dict(), model.reconstruct(history, torch.Generator().manual_seed(13))))
    (losses_a, state_a, x_a), (losses_b, state_b, x_b) = runs
    assert losses_a == losses_b
    assert all(torch.equal(state_a[key], state_b[key]) for key in state_a)
    assert torch.equal(x_a, x_b)
    other_seed = _model("v2", seed=10)
    other_seed.load_state_dict(state_a)
    other_seed.eval()
    assert not torch.equal(x_a, other_seed.reconstruct(history, torch.Generator().manual_seed(14)))


def test_reconstruct_leaves_the_global_rng_alone():
    model = _model("v1").eval()
    history, _ = _cyclic_batch(torch.Generator().manual_seed(15), batch=4)
    before = torch.get_rng_state()
    model.reconstruct(history, torch.Generator().manual_seed(16))
    assert torch.equal(before, torch.get_rng_state())


def test_scores_are_float32_inner_products_with_padding_never_ranked():
    model = _model("baseline")
    x0 = torch.randn(3, CONFIG.hidden)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = model.scores(x0)
    assert scores.shape == (3, N_ITEMS + 1) and scores.dtype == torch.float32
    assert torch.all(scores[:, 0] == float("-inf"))
    torch.testing.assert_close(scores[:, 1:], x0 @ model.item_embeddings[1:].T)


def test_bf16_autocast_trains_and_reconstructs():
    model = _model("v1")
    history, target = _cyclic_batch(torch.Generator().manual_seed(17), batch=8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(history, target)
        loss.backward()
        model.eval()
        x0 = model.reconstruct(history, torch.Generator().manual_seed(18))
    assert torch.isfinite(loss) and x0.dtype == torch.float32 and torch.isfinite(x0).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_with_padding_a_class_the_loss_and_the_scores_take_row_0_in():
    model = _model("baseline", padding_class=True)
    loss, x0_hat, target = _loss_and_prediction(model)
    torch.testing.assert_close(loss, F.cross_entropy(x0_hat @ model.item_embeddings.T, target))
    loss.backward()
    assert torch.count_nonzero(model.approximator.item_embedding.weight.grad[0]) > 0
    scores = model.scores(x0_hat.detach())
    torch.testing.assert_close(scores, x0_hat.detach() @ model.item_embeddings.detach().T)
    assert model.ranks_padding and not _model("baseline").ranks_padding
