"""Noise schedules beta_t and the constants of the Gaussian diffusion built from them.

Step indexing. Steps are numbered t = 0..T-1, as in the official DiffuRec code, with
alpha_t = 1 - beta_t and alpha_bar_t = prod_{s <= t} alpha_s. The paper numbers steps 1..T, but
its eq. 19 (x_0 is a one-step diffusion of the target embedding with mean sqrt(alpha_bar_0) and
variance 1 - alpha_0) only makes sense with 0-based arrays, where alpha_bar_0 = alpha_0 =
1 - beta_0 is the first step's value; the paper's "t ~ U(1, T)" (Algorithm 1) and
"s = floor(s'), s' ~ U(0, t)" (section 5.2) both become t uniform on {0..T-1} here.

Schedules (all in float64; `betas` raises ConfigError when one leaves (0, 1)):
- "trunc_lin" (the paper's "truncated linear", exactly as the official code builds it): with
  scale = 1000 / T, beta = linspace(scale * 1e-4 + 0.01, scale * 0.02 + 0.01, T); for T = 32 that
  is 0.013125 .. 0.635.
- "linear" (DDPM, rescaled to T steps): linspace(scale * 1e-4, scale * 0.02, T).
- "cosine" (Nichol & Dhariwal 2021) and "sqrt" (Diffusion-LM, Li et al. 2022): defined through
  alpha_bar(u) for u in [0, 1], cos^2((u + 0.008) / 1.008 * pi / 2) and 1 - sqrt(u + 1e-4), with
  beta_t = min(1 - alpha_bar((t + 1) / T) / alpha_bar(t / T), 0.999).

The posterior q(x_{t-1} | x_t, x_0) = N(coef_x0_t x_0 + coef_xt_t x_t, beta_tilde_t I) uses the
paper's eq. 8: coef_x0 = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t), coef_xt =
sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t), beta_tilde = (1 - alpha_bar_{t-1}) /
(1 - alpha_bar_t) beta_t, with alpha_bar_{-1} = 1. Eq. 23 reprints it with sqrt(alpha_bar_t) in
the x_t coefficient; that is a typo (it is not the posterior of the forward process, and the
official code uses sqrt(alpha_t)), so eq. 8 is implemented. At t = 0 the posterior collapses to
x_0 itself: coef_x0 = 1, coef_xt = 0, beta_tilde = 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from diffurec.errors import ConfigError

# Cap of the alpha_bar-defined schedules, which would otherwise reach beta = 1 at the last step.
_MAX_BETA = 0.999


def _rescaled_linspace(start: float, end: float, offset: float) -> Callable[[int], torch.Tensor]:
    def build(steps: int) -> torch.Tensor:
        scale = 1000.0 / steps
        return torch.linspace(scale * start + offset, scale * end + offset, steps, dtype=torch.float64)

    return build


def _from_alpha_bar(alpha_bar: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[int], torch.Tensor]:
    def build(steps: int) -> torch.Tensor:
        grid = torch.arange(steps + 1, dtype=torch.float64) / steps
        curve = alpha_bar(grid)
        return (1.0 - curve[1:] / curve[:-1]).clamp(max=_MAX_BETA)

    return build


_SCHEDULES: dict[str, Callable[[int], torch.Tensor]] = {
    "trunc_lin": _rescaled_linspace(1e-4, 0.02, 0.01),
    "linear": _rescaled_linspace(1e-4, 0.02, 0.0),
    "cosine": _from_alpha_bar(lambda u: torch.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2),
    "sqrt": _from_alpha_bar(lambda u: 1.0 - torch.sqrt(u + 1e-4)),
}


def betas(name: str, steps: int) -> torch.Tensor:
    """The schedule `name` for `steps` diffusion steps: float64 tensor [steps] in (0, 1)."""
    if name not in _SCHEDULES:
        raise ConfigError(f"params: unknown model.schedule {name!r}; choose from {sorted(_SCHEDULES)}")
    if steps < 1:
        raise ConfigError(f"params: model.steps must be >= 1, got {steps}")
    values = _SCHEDULES[name](steps)
    if not bool(((values > 0) & (values < 1)).all()):
        raise ConfigError(
            f"params: model.schedule {name!r} with model.steps = {steps} gives betas outside (0, 1) "
            f"(range {values.min().item():.4g} .. {values.max().item():.4g}); use more steps"
        )
    return values


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """Every per-step constant of the diffusion, float64 tensors [T] on the CPU, indexed t = 0..T-1."""

    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bars: torch.Tensor
    # alpha_bar_{t-1}, with 1 at t = 0.
    alpha_bars_prev: torch.Tensor
    # beta_tilde_t of eq. 8.
    posterior_variance: torch.Tensor
    posterior_coef_x0: torch.Tensor
    posterior_coef_xt: torch.Tensor

    @classmethod
    def from_betas(cls, betas: torch.Tensor) -> NoiseSchedule:
        betas = betas.to(torch.float64)
        alphas = 1.0 - betas
        alpha_bars = torch.cumprod(alphas, dim=0)
        alpha_bars_prev = torch.cat([alpha_bars.new_ones(1), alpha_bars[:-1]])
        return cls(
            betas=betas,
            alphas=alphas,
            alpha_bars=alpha_bars,
            alpha_bars_prev=alpha_bars_prev,
            posterior_variance=(1.0 - alpha_bars_prev) / (1.0 - alpha_bars) * betas,
            posterior_coef_x0=alpha_bars_prev.sqrt() * betas / (1.0 - alpha_bars),
            posterior_coef_xt=alphas.sqrt() * (1.0 - alpha_bars_prev) / (1.0 - alpha_bars),
        )

    @classmethod
    def named(cls, name: str, steps: int) -> NoiseSchedule:
        return cls.from_betas(betas(name, steps))

    @property
    def steps(self) -> int:
        return self.betas.shape[0]
