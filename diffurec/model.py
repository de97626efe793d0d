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

The control ("Transformer, no diffusion", `Control`) shares the approximator, the loss and the
scores (`ItemScorer`) and replaces both algorithms with one pass of the blocks over the history.
`new_model` builds whichever a variant names.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from diffurec.approximator import Approximator
from diffurec.config import ModelConfig
from diffurec.diffusion import ReverseOptions, diffuse_embedding, forward_noise, q_sample, sample_reverse
from diffurec.schedule import NoiseSchedule
from diffurec.variants import find_variant


class ItemScorer(nn.Module):
    """What DiffuRec and the control share: the approximator, whose item table E scores every
    item; the loss over those scores (eq. 24-25) and the rounding scores (eq. 26)."""

    def __init__(self, n_items: int, config: ModelConfig, variant: str):
        super().__init__()
        self.spec = find_variant(variant)
        self.n_items = n_items
        self.variant = variant
        self.config = config
        self.approximator = Approximator(n_items, config, self.spec.cross_attention, self.spec.diffusion)

    @property
    def item_embeddings(self) -> torch.Tensor:
        """E [n_items + 1, H], row 0 = padding."""
        return self.approximator.item_embedding.weight

    def item_loss(self, x0_hat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """x0_hat [B, H], target [B] (ids >= 1) -> mean cross-entropy of the items' scores []."""
        # eq. 24, eq. 25: softmax over the items' scores, cross-entropy (Algorithm 1, line 7's loss).
        if self.config.padding_class:
            return F.cross_entropy(x0_hat @ self.item_embeddings.T, target)
        logits = x0_hat @ self.item_embeddings[1:].T
        return F.cross_entropy(logits, target - 1)

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
            scores = x0.float() @ self.item_embeddings.float().T  # eq. 26
        if not self.ranks_padding:
            scores[:, 0] = float("-inf")
        return scores


class DiffuRec(ItemScorer):
    """Histories [B, L] of item ids 1..n_items (0 = left padding) -> next-item representations."""

    def __init__(self, n_items: int, config: ModelConfig, variant: str):
        super().__init__(n_items, config, variant)
        if not self.spec.diffusion:
            raise ValueError(f"variant {variant!r} has no diffusion; build it with new_model")
        # eq. 17: only the variant with offset noise shifts its training noise.
        self.offset = config.offset if self.spec.offset_noise else 0.0
        self.schedule = NoiseSchedule.named(config.schedule, config.steps)
        self.register_buffer("sqrt_alpha_bars", self.schedule.sqrt_alpha_bars.float(), persistent=False)
        self.register_buffer(
            "sqrt_one_minus_alpha_bars", self.schedule.sqrt_one_minus_alpha_bars.float(), persistent=False
        )
        # Eq. 19's coefficients as Python floats, read once: a host read per training step would
        # also break the graph torch.compile captures of the step (train.compile).
        self.first_step = (self.schedule.sqrt_alpha_bars[0].item(), self.schedule.sqrt_one_minus_alpha_bars[0].item())

    def diffuse(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Algorithm 1, lines 3-4: targets [B] -> (x_t [B, H], t [B])."""
        batch = target.shape[0]
        device = target.device
        # config.steps (= schedule.steps) is a Python int; torch.compile would trace the schedule's length.
        t = torch.randint(self.config.steps, (batch,), device=device)  # Algorithm 1, line 3: t ~ U
        x0 = self.item_embeddings[target]
        if self.config.x0 == "one_step":
            x0 = diffuse_embedding(x0, self.first_step, torch.randn(x0.shape, device=device))  # eq. 19
        # eq. 17 (Algorithm 1, line 3): the offset is 0 but for the variant with offset noise.
        noise = forward_noise(x0.shape, self.offset, self.config.delta_c, self.config.offset_mode, device=device)
        signal, spread = self.sqrt_alpha_bars[t][:, None], self.sqrt_one_minus_alpha_bars[t][:, None]
        return q_sample(x0, signal, spread, noise), t  # eq. 20, Algorithm 1, line 4

    def forward(self, history: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """history [B, L], target [B] (ids >= 1) -> mean cross-entropy loss []."""
        x_t, t = self.diffuse(target)
        x0_hat = self.approximator(history, x_t, t)  # Algorithm 1, lines 4-6 (lambda, z, f_theta)
        return self.item_loss(x0_hat, target)

    @torch.no_grad()
    def reconstruct(
        self,
        history: torch.Tensor,
        generator: torch.Generator | None = None,
        denoiser: Callable[..., torch.Tensor] | None = None,
        reverse: ReverseOptions = ReverseOptions(),
    ) -> torch.Tensor:
        """Algorithm 2: history [B, L] -> x_0 [B, H]. Call model.eval() first. `denoiser`: the
        approximator's `denoise` (None) or a compiled copy of it (eval.compile). `reverse`: the
        inference ablations (fewer steps, x_t = 0); the default is the paper's T-step chain."""
        approximator = self.approximator
        denoiser = denoiser or approximator.denoise
        device = history.device
        encoded = approximator.encode(history)
        steps = approximator.step_embedding(torch.arange(self.schedule.steps, device=device))
        lambda_shape = encoded.hidden.shape

        def denoise(x_t: torch.Tensor, t: int) -> torch.Tensor:
            lambdas = approximator.draw_lambda(lambda_shape, device, generator)  # Algorithm 2, line 2
            # The x_t = 0 ablation replaces the approximator's input alone, after the same draws.
            seen = torch.zeros_like(x_t) if reverse.zero_xt else x_t
            return denoiser(encoded, seen, steps[t : t + 1], lambdas)  # Algorithm 2, lines 3-4

        # Algorithm 2's input x_T ~ N(0, I), then its loop (lines 1-5).
        x_T = torch.randn((history.shape[0], approximator.hidden), device=device, generator=generator)
        timesteps = reverse.timesteps(self.schedule.steps)
        return sample_reverse(denoise, x_T, self.schedule, self.config.reverse_noise, generator, timesteps)


class Control(ItemScorer):
    """The control (`diffurec.variants`): DiffuRec's approximator, embeddings, samples and loss
    without the diffusion. Histories [B, L] -> one pass of the blocks -> representations [B, H].

    No x_t, lambda or reverse process, so it draws no random numbers at evaluation: its scores do
    not depend on any seed.
    """

    def __init__(self, n_items: int, config: ModelConfig, variant: str):
        super().__init__(n_items, config, variant)
        if self.spec.diffusion:
            raise ValueError(f"variant {variant!r} is a diffusion model; build it with new_model")

    def forward(self, history: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """history [B, L], target [B] (ids >= 1) -> mean cross-entropy loss []."""
        return self.item_loss(self.approximator.represent(history), target)

    @torch.no_grad()
    def reconstruct(
        self,
        history: torch.Tensor,
        generator: torch.Generator | None = None,
        denoiser: Callable[..., torch.Tensor] | None = None,
        reverse: ReverseOptions = ReverseOptions(),
    ) -> torch.Tensor:
        """DiffuRec's interface for evaluation: history [B, L] -> representation [B, H]. Call
        model.eval() first. `generator` and `denoiser` are unused (nothing is drawn, no reverse
        step runs); a reverse-process ablation is refused, there is none to ablate."""
        if reverse != ReverseOptions():
            raise ValueError("the control has no reverse process: it takes no reverse-process ablation")
        return self.approximator.represent(history)


def new_model(n_items: int, config: ModelConfig, variant: str) -> ItemScorer:
    """A freshly initialised model of `variant`: DiffuRec for the paper's three, else the control."""
    return (DiffuRec if find_variant(variant).diffusion else Control)(n_items, config, variant)
