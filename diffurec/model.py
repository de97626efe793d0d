"""DiffuRec and its DiffuRecSys variants: the training loss (Algorithm 1), the reverse process
(Algorithm 2) and the rounding scores (eq. 26).

Variants: "baseline" conditions by addition (eq. 15), "v1" by cross-attention (eq. 16), "v2" is
v1 with offset noise (eq. 17) in the training forward process; v1 and v2 share one architecture.

Training (Algorithm 1, per sample): t ~ U{0..T-1}; x_0 = one-step diffusion of the target
embedding (eq. 19; config.x0 = "embedding" uses the embedding itself, as the official code);
eps ~ N(0, I), or N(offset * delta_c, I) for v2; x_t = q_sample(x_0, t, eps) (eq. 20); x0_hat =
f_theta(history, x_t, t); loss = cross-entropy of x0_hat . e_i over the real items only (eq. 24-25:
the padding row is never a class, so logits use E[1:] against target - 1; config.padding_class
makes row 0 a class, and a scored item, as the official code does). The gradient reaches
the target embedding through x_0, as in the official code. All draws come from torch's global
RNG, so a trainer can checkpoint and restore it.

Reverse process (Algorithm 2): x_T ~ N(0, I), then per step lambda, x0_hat and eps' ~ N(0, I)
from the caller's generator; see `diffusion.sample_reverse`. History embeddings, keys/values of
the cross-attention and the step embeddings of all T steps are computed once per batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from diffurec.approximator import Approximator
from diffurec.config import VARIANTS, ModelConfig
from diffurec.diffusion import diffuse_embedding, forward_noise, q_sample, sample_reverse
from diffurec.errors import ConfigError
from diffurec.schedule import NoiseSchedule


class DiffuRec(nn.Module):
    """Histories [B, L] of item ids 1..n_items (0 = left padding) -> next-item representations."""

    def __init__(self, n_items: int, config: ModelConfig, variant: str):
        super().__init__()
        if variant not in VARIANTS:
            raise ConfigError(f"params: unknown variant {variant!r}; choose from {list(VARIANTS)}")
        self.n_items = n_items
        self.variant = variant
        self.config = config
        self.offset = config.offset if variant == "v2" else 0.0
        self.schedule = NoiseSchedule.named(config.schedule, config.steps)
        self.approximator = Approximator(n_items, config, cross_attention=variant != "baseline")
        self.register_buffer("alpha_bars", self.schedule.alpha_bars.float(), persistent=False)

    @property
    def item_embeddings(self) -> torch.Tensor:
        """E [n_items + 1, H], row 0 = padding."""
        return self.approximator.item_embedding.weight

    def diffuse(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Algorithm 1, lines 3-4: targets [B] -> (x_t [B, H], t [B])."""
        batch = target.shape[0]
        device = target.device
        t = torch.randint(self.schedule.steps, (batch,), device=device)
        x0 = self.item_embeddings[target]
        if self.config.x0 == "one_step":
            x0 = diffuse_embedding(x0, self.schedule, torch.randn(x0.shape, device=device))
        noise = forward_noise(x0.shape, self.offset, self.config.delta_c, self.config.offset_mode, device=device)
        return q_sample(x0, self.alpha_bars[t][:, None], noise), t

    def forward(self, history: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """history [B, L], target [B] (ids >= 1) -> mean cross-entropy loss []."""
        x_t, t = self.diffuse(target)
        x0_hat = self.approximator(history, x_t, t)
        # Eq. 24-25.
        if self.config.padding_class:
            return F.cross_entropy(x0_hat @ self.item_embeddings.T, target)
        logits = x0_hat @ self.item_embeddings[1:].T
        return F.cross_entropy(logits, target - 1)

    @torch.no_grad()
    def reconstruct(self, history: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Algorithm 2: history [B, L] -> x_0 [B, H]. Call model.eval() first."""
        approximator = self.approximator
        device = history.device
        encoded = approximator.encode(history)
        steps = approximator.step_embedding(torch.arange(self.schedule.steps, device=device))
        lambda_shape = encoded.hidden.shape

        def denoise(x_t: torch.Tensor, t: int) -> torch.Tensor:
            lambdas = approximator.draw_lambda(lambda_shape, device, generator)
            return approximator.denoise(encoded, x_t, steps[t : t + 1], lambdas)

        x_T = torch.randn((history.shape[0], approximator.hidden), device=device, generator=generator)
        return sample_reverse(denoise, x_T, self.schedule, self.config.reverse_noise, generator)

    @property
    def ranks_padding(self) -> bool:
        """Whether the padding row competes with the real items at evaluation (config.padding_class)."""
        return self.config.padding_class

    def scores(self, x0: torch.Tensor) -> torch.Tensor:
        """Eq. 26: x0 [B, H] -> x0 . e_i for every row of E, [B, n_items + 1]; column 0 = -inf
        unless padding is a class.

        Computed in float32 even under autocast: bf16 scores would tie many items.
        """
        with torch.autocast(x0.device.type, enabled=False):
            scores = x0.float() @ self.item_embeddings.float().T
        if not self.ranks_padding:
            scores[:, 0] = float("-inf")
        return scores
