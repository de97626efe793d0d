"""The approximator f_theta: padding never reaches a real position, attention is the textbook
formula, and the documented switches (positional, mask, activation) do what they say."""

import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from diffurec.approximator import Approximator, Attention, Block
from diffurec.config import ModelConfig

N_ITEMS = 30
HIDDEN = 16
CONFIG = ModelConfig(hidden=HIDDEN, blocks=2, heads=2, max_len=24)


def _approximator(cross: bool, seed: int = 0, **overrides) -> Approximator:
    torch.manual_seed(seed)
    config = ModelConfig(**{**CONFIG.__dict__, **overrides})
    return Approximator(N_ITEMS, config, cross_attention=cross).eval()


MODELS = {
    (cross, positional): _approximator(cross, positional=positional)
    for cross in (False, True)
    for positional in (False, True)
}


def _run(approximator, history, x_t, t, lambdas):
    encoded = approximator.encode(history)
    # Under mask "queries" encode widens the batch to max_len; the added positions get lambda 0.
    lambdas = F.pad(lambdas, (0, 0, encoded.hidden.shape[1] - lambdas.shape[1], 0))
    return approximator.denoise(encoded, x_t, approximator.step_embedding(t), lambdas)


def _left_pad(history: list[int], length: int) -> list[int]:
    return [0] * (length - len(history)) + history


def _inputs(histories: list[list[int]], seed: int):
    generator = torch.Generator().manual_seed(seed)
    length = max(map(len, histories))
    batch = torch.tensor([_left_pad(h, length) for h in histories])
    x_t = torch.randn((len(histories), HIDDEN), generator=generator)
    t = torch.randint(32, (len(histories),), generator=generator)
    lambdas = 0.001 + 0.001 * torch.randn((len(histories), length, HIDDEN), generator=generator)
    return batch, x_t, t, lambdas


def _random_case(seed: int):
    rng = random.Random(seed)
    histories = [[rng.randint(1, N_ITEMS) for _ in range(rng.randint(1, 8))] for _ in range(rng.randint(1, 4))]
    return histories, rng.randint(1, 12)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("norm", ["post", "pre"])
@pytest.mark.parametrize("positional", [False, True])
@pytest.mark.parametrize("cross", [False, True])
def test_extra_left_padding_does_not_change_the_output(cross, positional, norm, seed):
    approximator = MODELS[(cross, positional)] if norm == "post" else _approximator(cross, positional=positional, norm="pre")
    histories, extra = _random_case(seed)
    history, x_t, t, lambdas = _inputs(histories, seed)
    padded = F.pad(history, (extra, 0))
    # Padded positions get wild lambdas: they must not reach any real position.
    garbage = 50.0 * torch.randn((len(histories), extra, HIDDEN), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        short = _run(approximator, history, x_t, t, lambdas)
        long = _run(approximator, padded, x_t, t, torch.cat([garbage, lambdas], dim=1))
    torch.testing.assert_close(long, short, rtol=0, atol=1e-5)


def _manual_attention(attention: Attention, query, context, keep):
    """Textbook masked multi-head attention, head by head."""
    heads, width = attention.heads, query.shape[-1] // attention.heads
    q = attention.query(query)
    k, v = attention.key_value(context).chunk(2, dim=-1)
    outputs = []
    for head in range(heads):
        part = slice(head * width, (head + 1) * width)
        scores = q[..., part] @ k[..., part].transpose(1, 2) / math.sqrt(width)
        scores = scores.masked_fill(~keep[:, None, :], float("-inf"))
        outputs.append(scores.softmax(dim=-1) @ v[..., part])
    return attention.out(torch.cat(outputs, dim=-1))


def test_cross_attention_is_scaled_multi_head_attention_that_ignores_padded_keys():
    torch.manual_seed(1)
    attention = Attention(HIDDEN, 4, dropout=0.1).eval()
    query = torch.randn(3, 5, HIDDEN)
    context = torch.randn(3, 5, HIDDEN)
    keep = torch.tensor([[False, False, True, True, True], [True] * 5, [False] * 4 + [True]])
    with torch.no_grad():
        keys, values = attention.keys_values(context)
        attended = attention(query, keys, values, keep, "keys")
        torch.testing.assert_close(attended, _manual_attention(attention, query, context, keep))
        scrambled = torch.where(keep[..., None], context, 1e3 * torch.randn(3, 5, HIDDEN))
        torch.testing.assert_close(attention(query, *attention.keys_values(scrambled), keep, "keys"), attended)


def test_query_mask_reproduces_the_official_quirk():
    torch.manual_seed(2)
    attention = Attention(HIDDEN, 2, dropout=0.0).eval()
    query = torch.randn(2, 4, HIDDEN)
    context = torch.randn(2, 4, HIDDEN)
    keep = torch.tensor([[False, True, True, True], [True] * 4])
    everything = torch.ones_like(keep)
    with torch.no_grad():
        keys, values = attention.keys_values(context)
        attended = attention(query, keys, values, keep, "queries")
        # Real rows attend to every position, padding included.
        torch.testing.assert_close(attended[0, 1:], _manual_attention(attention, query, context, everything)[0, 1:])
        torch.testing.assert_close(attended[1], _manual_attention(attention, query, context, everything)[1])
        # A padded row's scores are all -1e9 in the official code: a uniform average of the values.
        uniform = attention.out(attention.key_value(context)[0:1].chunk(2, dim=-1)[1].mean(dim=1))
        torch.testing.assert_close(attended[0, 0], uniform[0])


@pytest.mark.parametrize("cross", [False, True])
def test_the_query_mask_pads_to_max_len_so_the_batch_width_does_not_matter(cross):
    # Real tokens attend to padding under "queries": the official code always pads to max_len,
    # so a user's output must not depend on how wide its length-grouped batch happens to be.
    approximator = _approximator(cross, mask="queries")
    history, x_t, t, _ = _inputs([[3, 9, 4], [5, 6, 7, 8, 2]], seed=12)
    with torch.no_grad():
        narrow = approximator(history, x_t, t, torch.Generator().manual_seed(13))
        wide = approximator(F.pad(history, (7, 0)), x_t, t, torch.Generator().manual_seed(13))
        encoded = approximator.encode(history)
    assert encoded.hidden.shape[1] == CONFIG.max_len
    assert encoded.keep.sum().item() == 3 + 5
    assert torch.equal(narrow, wide)


@pytest.mark.parametrize("cross", [False, True])
def test_the_padding_embedding_is_invisible_only_with_the_key_mask(cross):
    history, x_t, t, lambdas = _inputs([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5]], seed=3)
    outputs = {}
    for mask in ("keys", "queries"):
        approximator = _approximator(cross, mask=mask)
        with torch.no_grad():
            before = _run(approximator, history, x_t, t, lambdas)
            approximator.item_embedding.weight[0] = 3.0 * torch.randn(HIDDEN)
            after = _run(approximator, history, x_t, t, lambdas)
        outputs[mask] = (before, after)
    torch.testing.assert_close(outputs["keys"][1], outputs["keys"][0], rtol=0, atol=1e-6)
    # Under "queries" both users are padded to max_len, so both see the padding embedding.
    changed = (outputs["queries"][1] - outputs["queries"][0]).abs().amax(dim=1)
    assert (changed > 1e-3).all()


@pytest.mark.parametrize("mask", ["keys", "queries"])
@pytest.mark.parametrize("cross", [False, True])
def test_an_empty_history_gives_a_finite_output(cross, mask):
    approximator = _approximator(cross, mask=mask)
    history, x_t, t, lambdas = _inputs([[0, 0, 0], [4, 5, 6]], seed=4)
    with torch.no_grad():
        out = _run(approximator, history, x_t, t, lambdas)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("cross", [False, True])
def test_order_is_visible_only_with_the_positional_embedding(cross):
    history, x_t, t, lambdas = _inputs([[3, 9, 4, 7, 5]], seed=5)
    order = torch.tensor([2, 0, 3, 1, 4])  # the most recent item stays last
    for positional, changes in ((False, False), (True, True)):
        approximator = MODELS[(cross, positional)]
        with torch.no_grad():
            out = _run(approximator, history, x_t, t, lambdas)
            permuted = _run(approximator, history[:, order], x_t, t, lambdas[:, order])
        assert bool((out - permuted).abs().max() > 1e-4) == changes


@pytest.mark.parametrize("cross", [False, True])
def test_the_output_depends_on_the_noised_target_and_the_step(cross):
    approximator = MODELS[(cross, True)]
    history, x_t, t, lambdas = _inputs([[3, 9, 4], [5, 6, 7]], seed=6)
    with torch.no_grad():
        out = _run(approximator, history, x_t, t, lambdas)
        other_x = _run(approximator, history, x_t + 5.0, t, lambdas)
        other_t = _run(approximator, history, x_t, (t + 7) % 32, lambdas)
    assert (out - other_x).abs().max() > 1e-6
    assert (out - other_t).abs().max() > 1e-6


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_blocks_follow_their_layer_norm_placement(norm):
    torch.manual_seed(14)
    block = Block(ModelConfig(**{**CONFIG.__dict__, "norm": norm})).eval()
    x = 3.0 * torch.randn(2, 5, HIDDEN)
    keep = torch.tensor([[False, True, True, True, True], [True] * 5])

    def attend(inputs):
        return _manual_attention(block.attention, inputs, inputs, keep)

    with torch.no_grad():
        if norm == "post":  # Vaswani et al.: LayerNorm(x + Sublayer(x))
            middle = block.attention_norm(x + attend(x))
            expected = block.ffn_norm(middle + block.ffn(middle))
        else:  # official code: x + Sublayer(LayerNorm(x))
            middle = x + attend(block.attention_norm(x))
            expected = middle + block.ffn(block.ffn_norm(middle))
        torch.testing.assert_close(block(x, keep, "keys"), expected)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_the_last_block_computes_only_the_last_position_exactly(norm):
    torch.manual_seed(7)
    block = Block(ModelConfig(**{**CONFIG.__dict__, "norm": norm})).eval()
    x = torch.randn(3, 6, HIDDEN)
    keep = torch.tensor([[False, False, True, True, True, True]] * 3)
    with torch.no_grad():
        full = block(x, keep, "keys")
        last = block(x, keep, "keys", last_only=True)
    assert last.shape == (3, 1, HIDDEN)
    torch.testing.assert_close(last[:, 0], full[:, -1], rtol=0, atol=1e-6)


def test_initialisation_and_switches():
    gelu = _approximator(True, activation="gelu", seed=8)
    relu = _approximator(True, activation="relu", seed=8)
    assert isinstance(gelu.blocks[0].ffn[1], nn.GELU) and isinstance(relu.blocks[0].ffn[1], nn.ReLU)
    # Post-LN blocks end normalised; only pre-LN ones take the official closing dropout + LayerNorm.
    pre = _approximator(True, norm="pre", seed=8)
    assert isinstance(relu.head, nn.Identity) and isinstance(pre.head[1], nn.LayerNorm)
    assert MODELS[(False, False)].position is None and MODELS[(False, True)].position is not None
    assert MODELS[(False, True)].cross is None and MODELS[(True, True)].cross is not None
    big = Approximator(2000, ModelConfig(hidden=128, blocks=1, heads=4), cross_attention=True)
    for linear in (m for m in big.modules() if isinstance(m, nn.Linear)):
        fan_out, fan_in = linear.weight.shape
        assert linear.weight.std().item() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.1)
        assert torch.count_nonzero(linear.bias) == 0
    assert big.item_embedding.weight.std().item() == pytest.approx(1.0, rel=0.02)


def test_lambda_is_drawn_from_n_delta_delta():
    approximator = _approximator(False, lambda_delta=0.001)
    lambdas = approximator.draw_lambda((64, 50, HIDDEN), torch.device("cpu"), torch.Generator().manual_seed(9))
    assert lambdas.shape == (64, 50, HIDDEN)
    assert lambdas.mean().item() == pytest.approx(0.001, rel=0.02)
    assert lambdas.std().item() == pytest.approx(0.001, rel=0.02)


def test_forward_draws_lambda_from_the_generator_and_runs_under_bf16_autocast():
    approximator = MODELS[(True, True)]
    history, x_t, t, _ = _inputs([[3, 9, 4], [5, 6, 7]], seed=10)
    with torch.no_grad():
        first = approximator(history, x_t, t, torch.Generator().manual_seed(11))
        again = approximator(history, x_t, t, torch.Generator().manual_seed(11))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = approximator(history, x_t, t, torch.Generator().manual_seed(11))
    assert torch.equal(first, again)
    assert low.dtype == torch.float32 and torch.isfinite(low).all()
    assert (low - first).abs().max() < 0.2


def test_histories_longer_than_max_len_are_refused():
    approximator = MODELS[(False, True)]
    history = torch.ones((1, CONFIG.max_len + 1), dtype=torch.long)
    with pytest.raises(ValueError, match="exceeds model.max_len"):
        approximator.encode(history)


class Half(nn.Module):
    """A deterministic stand-in for dropout: where a dropout sits, the signal is halved."""

    def forward(self, x):
        return 0.5 * x


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_the_official_dropout_sites_sit_inside_the_ffn_and_on_the_block_output(norm):
    torch.manual_seed(15)
    config = ModelConfig(**{**CONFIG.__dict__, "norm": norm, "ffn_dropout": True, "block_dropout": True})
    block = Block(config).eval()
    plain = Block(ModelConfig(**{**CONFIG.__dict__, "norm": norm}))
    assert isinstance(block.ffn[2], nn.Dropout) and isinstance(block.output_dropout, nn.Dropout)
    assert isinstance(plain.ffn[2], nn.Identity) and isinstance(plain.output_dropout, nn.Identity)
    block.ffn[2], block.output_dropout, block.dropout = Half(), Half(), Half()
    x = torch.randn(2, 5, HIDDEN)
    keep = torch.ones(2, 5, dtype=torch.bool)

    def ffn(inputs):
        return block.ffn[3](0.5 * block.ffn[1](block.ffn[0](inputs)))

    with torch.no_grad():
        if norm == "post":
            middle = block.attention_norm(x + 0.5 * _manual_attention(block.attention, x, x, keep))
            expected = 0.5 * block.ffn_norm(middle + 0.5 * ffn(middle))
        else:
            normed = block.attention_norm(x)
            middle = x + 0.5 * _manual_attention(block.attention, normed, normed, keep)
            expected = 0.5 * (middle + 0.5 * ffn(block.ffn_norm(middle)))
        torch.testing.assert_close(block(x, keep, "keys"), expected)


def test_the_official_network_switches():
    torch.manual_seed(3)
    config = ModelConfig(hidden=128, blocks=2, heads=4, activation="gelu_tanh", norm="pre", norm_eps=1e-12, init="official")
    official = Approximator(2000, config, cross_attention=True)
    assert isinstance(official.blocks[0].ffn[1], nn.GELU) and official.blocks[0].ffn[1].approximate == "tanh"
    norms = [m for m in official.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 2 * 2 + 2 and all(norm.eps == 1e-12 for norm in norms)
    xavier = {id(official.cross.out.weight)}
    for block in official.blocks:
        xavier |= {id(block.attention.out.weight), id(block.ffn[0].weight), id(block.ffn[3].weight)}
    for linear in (m for m in official.modules() if isinstance(m, nn.Linear)):
        fan_out, fan_in = linear.weight.shape
        if id(linear.weight) in xavier:
            expected = math.sqrt(2 / (fan_in + fan_out))
        else:  # PyTorch's default: Kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
            expected = 1 / math.sqrt(3 * fan_in)
        assert linear.weight.std().item() == pytest.approx(expected, rel=0.1)
        # Biases keep PyTorch's uniform draw everywhere, also beside the Xavier weights.
        assert linear.bias.abs().max().item() == pytest.approx(1 / math.sqrt(fan_in), rel=0.1)
    assert official.item_embedding.weight.std().item() == pytest.approx(1.0, rel=0.02)
