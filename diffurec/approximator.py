"""The approximator f_theta (paper section 5.1): history + noised target x_t + step t -> x0_hat.

Shapes: B users, L history positions (left-padded, most recent item at L-1, id 0 = padding),
H hidden units, heads n_h of width H / n_h.

    h   = LayerNorm(Dropout_emb(E[history] + P))     [B, L, H]  (P only if config.positional)
    d   = MLP(sinusoid(t * 1000 / T))                [B, H]     step embedding
    c_i = lambda_i * (x_t + d),  lambda ~ N(delta, delta) elementwise   [B, L, H]
    z_i = h_i + c_i                                  baseline, eq. 15
    z_i = h_i + CrossAttention(query c_i, keys/values h)_i   v1 / v2, eq. 16
    x0_hat = Blocks(z)[:, -1]                        [B, H], the most recent position (eq. 14)
             (pre-LN blocks: LayerNorm(Dropout(Blocks(z)))[:, -1], as the official code)

Choices and their reasons:
- Cross-attention orientation. The query of position i is its conditioning signal c_i and the
  keys/values are the history h: the paper says cross-attention lets the model "dynamically
  weigh the importance of historical interactions to the last target item" (Figure 2: "between
  the last target item and the user's historical interactions"), i.e. the attention weights run
  over history items, and the DiffuRecSys code is oriented the same way. Each position still gets
  its own z_i (its own lambda_i, so its own query), and the residual keeps e_i in z_i, as eq. 15
  did. Its keys and values depend on the history alone, so the reverse process computes them once
  per batch (`encode`). It is proper scaled multi-head attention, not the published code's
  softmax-over-heads linear attention.
- Padding. With mask "keys" (default) every attention masks padded keys, so a real position never
  sees padding, and extra left padding leaves every real position's output unchanged (positions
  of P count back from the most recent item for the same reason). Left padding keeps position L-1
  real in every non-empty history, so that key is always allowed: no attention row is ever fully
  masked (which would give NaN), and an empty history reads as a lone padding item. Mask
  "queries" reproduces the official code: nothing is masked as a key, and padded query rows
  attend uniformly (the official softmax over a row filled with -1e9). Under "queries" real
  tokens attend to padding, so how much padding there is changes them: `encode` then pads every
  history to max_len, as the official code does, so a user's output does not depend on which
  other users share the batch.
- lambda has one draw per position [B, L, H], padding included. A real position's draw therefore
  depends on L; padding invariance is a property of the network given its inputs (padded
  positions' lambda never reaches a real position), which the tests check by passing lambdas.
- Transformer blocks are "the standard Transformer [27]" of section 6.2: post-LayerNorm
  (LayerNorm after each residual sum), residual and attention dropout, FFN 4H with ReLU,
  Xavier-normal linear weights and zero biases, LayerNorm eps 1e-5. The official code's
  pre-LayerNorm blocks with a closing dropout + LayerNorm, its tanh-approximated GELU, its extra
  dropout inside the FFN and on each block's output, its initialisation (Xavier on the
  attention-output and FFN weights only, PyTorch's defaults elsewhere) and its LayerNorm eps
  1e-12 are switches (config.norm, activation, ffn_dropout, block_dropout, init, norm_eps).
  Item and positional embeddings are N(0, 1), as the official code's item table (the paper is
  silent), row 0 included: it is never a class (see `model`) and, with mask "keys", never
  attended to, so it receives no gradient. Only the last position's output is used, so the
  last block computes its query, FFN and output for that row alone.
- The step embedding follows the official code: sinusoid of t * 1000 / T (cos then sin halves),
  Linear(H, 4H), SiLU, Linear(4H, H).
- The control (`diffusion=False`, see `diffurec.variants`) is the same network with no
  condition: `represent` runs the blocks on h itself, and there is no step MLP and no
  cross-attention to train.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from diffurec.config import ModelConfig
from diffurec.diffusion import standard_normal
from diffurec.dropout import Dropout, dropout


class EncodedHistory(NamedTuple):
    """Everything about a batch of histories that does not depend on x_t or t."""

    hidden: torch.Tensor  # [B, L, H]
    keep: torch.Tensor  # [B, L] bool, True = a key every query may attend to
    cross_keys: torch.Tensor | None  # [B, n_h, L, H / n_h]
    cross_values: torch.Tensor | None  # [B, n_h, L, H / n_h]


def sinusoid(values: Sequence[float], dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (fractional) step values [N] -> float32 [N, dim]: cos halves, then
    sin, with frequencies 10000^(-j / half).

    Computed in float64 with Python's `math` and rounded once to float32: torch's CPU exp (and
    float64 sin and cos) go through MKL's vector math, whose bits depend on the processor's maker
    (`diffurec.schedule.exact`). The steps are the integers 0..T-1, so the network computes this
    table once (`Approximator.step_embedding`) and indexes it."""
    half = dim // 2
    freqs = [math.exp(-math.log(10000.0) * j / half) for j in range(half)]
    rows = [[math.cos(v * f) for f in freqs] + [math.sin(v * f) for f in freqs] + [0.0] * (dim % 2) for v in values]
    return torch.tensor(rows, dtype=torch.float64).reshape(len(rows), dim).float()


class Attention(nn.Module):
    """Scaled multi-head attention whose keys/values can be computed once and reused."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.query = nn.Linear(hidden, hidden)
        self.key_value = nn.Linear(hidden, 2 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = x.shape
        return x.view(batch, length, self.heads, hidden // self.heads).transpose(1, 2)

    def keys_values(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """context [B, L, H] -> keys, values [B, n_h, L, H / n_h]."""
        keys, values = self.key_value(context).chunk(2, dim=-1)
        return self._split(keys), self._split(values)

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, keep: torch.Tensor, mask: str
    ) -> torch.Tensor:
        """query [B, Lq, H] (the last Lq of L positions), keys/values [B, n_h, L, H / n_h],
        keep [B, L] -> [B, Lq, H]."""
        batch, length, hidden = query.shape
        q = self._split(self.query(query))
        key_mask = keep[:, None, None, :] if mask == "keys" else None
        if self.training and self.dropout > 0.0 and q.device.type == "cpu":
            # Written out so that the probabilities' dropout mask is diffurec.dropout's: the fused
            # kernel's would be torch's processor-dependent one.
            scores = q @ keys.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if key_mask is not None:
                scores = scores.masked_fill(~key_mask, float("-inf"))
            attended = dropout(scores.softmax(dim=-1), self.dropout) @ values
        else:
            p = self.dropout if self.training else 0.0
            attended = F.scaled_dot_product_attention(q, keys, values, attn_mask=key_mask, dropout_p=p)
        if mask != "keys":
            real_rows = keep[:, None, -length:, None]
            attended = torch.where(real_rows, attended, values.mean(dim=2, keepdim=True).to(attended.dtype))
        return self.out(attended.transpose(1, 2).reshape(batch, length, hidden))


_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "gelu_tanh": lambda: nn.GELU(approximate="tanh")}


def optional_dropout(p: float, on: bool) -> nn.Module:
    """Dropout(p) where a switch puts one, else a no-op (which draws no random numbers)."""
    return Dropout(p) if on else nn.Identity()


class Block(nn.Module):
    """Transformer block. Post-LayerNorm (Vaswani et al.): LN(x + Attn(x)), then LN(x + FFN(x));
    pre-LayerNorm (official code): x + Attn(LN(x)), then x + FFN(LN(x)). FFN(x) = W2 act(W1 x),
    with dropout after act under config.ffn_dropout; config.block_dropout drops the block's output."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        hidden = config.hidden
        self.pre_norm = config.norm == "pre"
        self.attention_norm = nn.LayerNorm(hidden, eps=config.norm_eps)
        self.attention = Attention(hidden, config.heads, config.dropout)
        self.ffn_norm = nn.LayerNorm(hidden, eps=config.norm_eps)
        self.ffn = nn.Sequential(
            nn.Linear(hidden, 4 * hidden),
            _ACTIVATIONS[config.activation](),
            optional_dropout(config.dropout, config.ffn_dropout),
            nn.Linear(4 * hidden, hidden),
        )
        self.dropout = Dropout(config.dropout)
        self.output_dropout = optional_dropout(config.dropout, config.block_dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor, mask: str, last_only: bool = False) -> torch.Tensor:
        """x [B, L, H], keep [B, L] -> [B, L, H], or [B, 1, H] (the last position) if last_only."""
        if not self.pre_norm:
            keys, values = self.attention.keys_values(x)
            if last_only:
                x = x[:, -1:]
            x = self.attention_norm(x + self.dropout(self.attention(x, keys, values, keep, mask)))
            return self.output_dropout(self.ffn_norm(x + self.dropout(self.ffn(x))))
        normed = self.attention_norm(x)
        keys, values = self.attention.keys_values(normed)
        if last_only:
            x, normed = x[:, -1:], normed[:, -1:]
        x = x + self.dropout(self.attention(normed, keys, values, keep, mask))
        return self.output_dropout(x + self.dropout(self.ffn(self.ffn_norm(x))))


class Approximator(nn.Module):
    """f_theta: (history [B, L], x_t [B, H], t [B]) -> x0_hat [B, H]; without diffusion (the
    control), history [B, L] -> representation [B, H] (`represent`)."""

    def __init__(self, n_items: int, config: ModelConfig, cross_attention: bool, diffusion: bool = True):
        super().__init__()
        hidden = config.hidden
        self.hidden = hidden
        self.steps = config.steps
        self.max_len = config.max_len
        self.lambda_delta = config.lambda_delta
        self.mask = config.mask
        self.item_embedding = nn.Embedding(n_items + 1, hidden)
        self.position = nn.Embedding(config.max_len, hidden) if config.positional else None
        self.embedding_dropout = Dropout(config.emb_dropout)
        self.embedding_norm = nn.LayerNorm(hidden, eps=config.norm_eps)
        self.step_mlp = (
            nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.SiLU(), nn.Linear(4 * hidden, hidden)) if diffusion else None
        )
        # The sinusoid of t * 1000 / T for every step t, computed once (`sinusoid`); not saved with the weights.
        scaled_steps = [t * (1000.0 / config.steps) for t in range(config.steps)]
        self.register_buffer("step_sinusoids", sinusoid(scaled_steps, hidden), persistent=False)
        self.cross = Attention(hidden, config.heads, config.dropout) if cross_attention and diffusion else None
        self.dropout = Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.blocks))
        # Post-LN blocks end normalised; pre-LN ones get the official code's closing dropout + LayerNorm.
        pre_norm = config.norm == "pre"
        self.head = (
            nn.Sequential(Dropout(config.dropout), nn.LayerNorm(hidden, eps=config.norm_eps)) if pre_norm else nn.Identity()
        )
        self._init_weights(config.init)

    def _init_weights(self, scheme: str) -> None:
        """"xavier": every linear layer Xavier-normal with zero bias, embeddings N(0, 1).
        "official": the layers as PyTorch built them (Linear: Kaiming-uniform weights, uniform
        biases; Embedding: N(0, 1)), then Xavier-normal on the attention-output and both FFN
        weights only, biases untouched; the cross-attention follows the self-attention's rule."""
        if scheme == "official":
            attentions = [block.attention for block in self.blocks] + ([self.cross] if self.cross is not None else [])
            for attention in attentions:
                nn.init.xavier_normal_(attention.out.weight)
            for block in self.blocks:
                nn.init.xavier_normal_(block.ffn[0].weight)
                nn.init.xavier_normal_(block.ffn[-1].weight)
            return
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_normal_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=1.0)

    def encode(self, history: torch.Tensor) -> EncodedHistory:
        """history [B, L] (left-padded item ids, L <= max_len) -> its x_t-independent parts, of
        width L, or max_len under mask "queries"."""
        length = history.shape[1]
        if length > self.max_len:
            raise ValueError(
                f"history length {length} exceeds model.max_len {self.max_len}; keep the last max_len items"
            )
        if self.mask == "queries":
            history = F.pad(history, (self.max_len - length, 0))
            length = self.max_len
        embedded = self.item_embedding(history)
        if self.position is not None:
            # Counted back from the most recent item, so left padding does not move them.
            embedded = embedded + self.position.weight[:length].flip(0)
        hidden = self.embedding_norm(self.embedding_dropout(embedded))
        keep = history != 0
        keep[:, -1] = True
        cross_keys = cross_values = None
        if self.cross is not None:
            cross_keys, cross_values = self.cross.keys_values(hidden)
        return EncodedHistory(hidden, keep, cross_keys, cross_values)

    def step_embedding(self, t: torch.Tensor) -> torch.Tensor:
        """Step embedding d for steps t [N] (0..T-1) -> [N, H]."""
        return self.step_mlp(self.step_sinusoids[t])

    def draw_lambda(
        self, shape: tuple[int, int, int], device: torch.device, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """lambda ~ N(delta, delta) elementwise, [B, L, H]."""
        return self.lambda_delta + self.lambda_delta * standard_normal(shape, device=device, generator=generator)

    def denoise(
        self, encoded: EncodedHistory, x_t: torch.Tensor, step: torch.Tensor, lambdas: torch.Tensor
    ) -> torch.Tensor:
        """encoded histories, x_t [B, H], step embedding d [B or 1, H], lambdas [B, L, H] -> x0_hat [B, H]."""
        condition = lambdas * (x_t + step)[:, None, :]  # lambda_i (x + d) of eq. 15 and eq. 16
        if self.cross is None:
            z = encoded.hidden + condition  # eq. 15
        else:
            attended = self.cross(condition, encoded.cross_keys, encoded.cross_values, encoded.keep, self.mask)
            z = encoded.hidden + self.dropout(attended)  # eq. 16
        return self.transform(z, encoded.keep)

    def transform(self, z: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """The Transformer blocks: z [B, L, H], keep [B, L] -> the most recent position's output [B, H]."""
        last = len(self.blocks) - 1
        for index, block in enumerate(self.blocks):
            z = block(z, keep, self.mask, last_only=index == last)
        return self.head(z[:, -1])  # eq. 14: x0_hat is the most recent position's output

    def represent(self, history: torch.Tensor) -> torch.Tensor:
        """The control's one pass: history [B, L] -> the blocks' output on h alone, [B, H]."""
        encoded = self.encode(history)
        return self.transform(encoded.hidden, encoded.keep)

    def forward(
        self, history: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """history [B, L], x_t [B, H], t [B] -> x0_hat [B, H]; lambda drawn from `generator`."""
        encoded = self.encode(history)
        lambdas = self.draw_lambda(encoded.hidden.shape, history.device, generator)
        return self.denoise(encoded, x_t, self.step_embedding(t), lambdas)
