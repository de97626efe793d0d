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

Fewer reverse steps (an inference ablation; training always uses all T): respacing as in Nichol &
Dhariwal 2021 ("Improved DDPM", section 4). `respaced_timesteps(T, K)` keeps K of the T steps,
evenly spaced and both ends included: t_i = round(i (T - 1) / (K - 1)) for i = 0..K-1, rounded
half up (in integers, so no float decides a tie); for K = 1 the one step T-1, whose x_t is the
pure noise the reverse process starts from. For T = 32: K = 4 keeps 0, 10, 21, 31 and K = 8 keeps
0, 4, 9, 13, 18, 22, 27, 31. `NoiseSchedule.respaced` then builds the K-step schedule that keeps
their alpha_bars: beta'_i = 1 - alpha_bar_{t_i} / alpha_bar_{t_{i-1}} (alpha_bar_{t_{-1}} = 1), and
every constant above follows from those betas (their alpha_bars equal alpha_bar_{t_i} to float64
rounding). K = T gives back the schedule bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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


def exact(function: Callable[[float], float], values: torch.Tensor) -> torch.Tensor:
    """`function` (a `math` one) of every element of a small float64 tensor, as a float64 tensor.

    torch's CPU exp, log, sqrt, sin, cos, tanh, erf, ... (and `** 0.5`) call MKL's vector math,
    whose results depend on the processor's maker (docs/benchmarks.md, "The CPU pins"); Python's
    `math` computes the same bits on every x86-64 processor (sqrt correctly rounded). The
    schedule's constants are a few dozen numbers, computed once, so they take this path."""
    return torch.tensor([function(value) for value in values.tolist()], dtype=torch.float64)


def _from_alpha_bar(alpha_bar: Callable[[float], float]) -> Callable[[int], torch.Tensor]:
    def build(steps: int) -> torch.Tensor:
        grid = torch.arange(steps + 1, dtype=torch.float64) / steps
        curve = exact(alpha_bar, grid)
        return (1.0 - curve[1:] / curve[:-1]).clamp(max=_MAX_BETA)

    return build


_SCHEDULES: dict[str, Callable[[int], torch.Tensor]] = {
    "trunc_lin": _rescaled_linspace(1e-4, 0.02, 0.01),
    "linear": _rescaled_linspace(1e-4, 0.02, 0.0),
    "cosine": _from_alpha_bar(lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2),
    "sqrt": _from_alpha_bar(lambda u: 1.0 - math.sqrt(u + 1e-4)),
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
    # sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t): the coefficients of x_0 and eps in eq. 5 / 20.
    sqrt_alpha_bars: torch.Tensor
    sqrt_one_minus_alpha_bars: torch.Tensor
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
            sqrt_alpha_bars=exact(math.sqrt, alpha_bars),
            sqrt_one_minus_alpha_bars=exact(math.sqrt, 1.0 - alpha_bars),
            posterior_variance=(1.0 - alpha_bars_prev) / (1.0 - alpha_bars) * betas,
            posterior_coef_x0=exact(math.sqrt, alpha_bars_prev) * betas / (1.0 - alpha_bars),
            posterior_coef_xt=exact(math.sqrt, alphas) * (1.0 - alpha_bars_prev) / (1.0 - alpha_bars),
        )

    @classmethod
    def named(cls, name: str, steps: int) -> NoiseSchedule:
        return cls.from_betas(betas(name, steps))

    @property
    def steps(self) -> int:
        return self.betas.shape[0]

    def respaced(self, timesteps: Sequence[int]) -> NoiseSchedule:
        """The K-step schedule of a reverse process that visits only `timesteps`, K increasing
        indices t_0 < ... < t_{K-1} into this schedule: step i keeps alpha_bar_{t_i}, with
        beta'_i = 1 - alpha_bar_{t_i} / alpha_bar_{t_{i-1}} (see the module docstring)."""
        kept = torch.tensor(list(timesteps), dtype=torch.long)
        if kept.ndim != 1 or len(kept) == 0 or kept[0] < 0 or kept[-1] >= self.steps or bool((kept.diff() <= 0).any()):
            raise ValueError(f"timesteps must increase within 0..{self.steps - 1}, got {list(timesteps)}")
        previous = torch.cat([kept.new_full((1,), -1), kept[:-1]])
        previous_bars = torch.cat([self.alpha_bars.new_ones(1), self.alpha_bars[kept[:-1]]])
        spanned = 1.0 - self.alpha_bars[kept] / previous_bars
        # Where the step before t_i is kept too, the ratio is beta_{t_i} itself but for the last
        # bits; taking the schedule's own value there makes K = T this very schedule, so that the
        # full reverse process does not change by a single bit.
        return NoiseSchedule.from_betas(torch.where(kept - previous == 1, self.betas[kept], spanned))


def respaced_timesteps(steps: int, kept: int) -> tuple[int, ...]:
    """The `kept` (K) of `steps` (T) steps a shortened reverse process visits, increasing: evenly
    spaced with both ends for K >= 2, (T-1,) for K = 1 (see the module docstring)."""
    if not 1 <= kept <= steps:
        raise ConfigError(f"params: ablation.steps: {kept} reverse steps of a {steps}-step model; use 1..{steps}")
    if kept == 1:
        return (steps - 1,)
    # round(i (T - 1) / (K - 1)), half up: floor((2 i (T - 1) + K - 1) / (2 (K - 1))).
    return tuple((2 * i * (steps - 1) + kept - 1) // (2 * (kept - 1)) for i in range(kept))
