"""The diffusion's equations as small pure functions (steps t = 0..T-1, see `schedule`).

Forward (training) side:
- `q_sample`: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps (eq. 5 / 20). Eq. 18 prints
  the mean as sqrt(alpha_bar_t) x_0 for a step s; the step's own alpha_bar_s is meant (eq. 20).
- `diffuse_embedding`: eq. 19, x_0 ~ N(sqrt(alpha_bar_0) e, (1 - alpha_0) I), the one-step
  diffusion of the target embedding (alpha_bar_0 = alpha_0, so this is `q_sample` at t = 0). It
  draws centred noise: the offset of eq. 17 belongs to the reparameterisation of eq. 20 only.
- `forward_noise`: eq. 17, eps ~ N(offset * delta_c, I). delta_c is one scalar constant (a
  param, default 1.0), so the shift offset * delta_c is the same in every dimension and for
  every sample ("constant"). The image-diffusion "offset noise" instead shifts each sample by
  its own draw, offset * delta_c * N(0, 1), shared by all its dimensions ("per_sample"). The
  DiffuRecSys code, while its offset was on, added an independent draw to every element
  ("per_element"): no shift at all, only a variance of 1 + (offset * delta_c)^2. Its published
  version adds none (offset 0). Only the training forward process uses it; the reverse process
  draws N(0, I).

Reverse side (Algorithm 2, eq. 21-23):
- `reverse_step`: x_{t-1} = mu_tilde_t(x_t, x0_hat) + sigma_t eps', with mu_tilde from eq. 8
  (see `schedule` for the eq. 23 typo).
- `reverse_noise_scale`: sigma_t by mode. "paper": eq. 22 as printed, sigma_t = beta_tilde_t (a
  variance used as a standard deviation). "posterior": sigma_t = sqrt(beta_tilde_t), the DDPM
  posterior. "official": the official code's "fixed large" variance, sigma_t = sqrt(beta_t) (it
  stores beta_tilde_1 at t = 0, a step that adds no noise). No noise is added at the last
  step (t = 0) in any mode.
- `sample_reverse`: the whole chain from x_T to x_0 around any denoiser, over all T steps or,
  as an inference ablation, over K of them: the respaced schedule of `schedule` (Nichol &
  Dhariwal 2021), whose steps i = K-1..0 take the constants of the respaced betas and call the
  denoiser with the original step t_i, so its step embedding d_{t_i} is one it was trained on.
  sigma_t of every mode is then the respaced schedule's (beta_tilde'_i, sqrt(beta_tilde'_i) or
  sqrt(beta'_i)), and the last step (i = 0) still adds no noise.
- `ReverseOptions`: the inference ablations (fewer steps, x_t replaced by zeros), defaults = the
  paper's chain.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from diffurec.errors import ConfigError
from diffurec.schedule import NoiseSchedule, exact, respaced_timesteps

REVERSE_NOISE_MODES = ("paper", "posterior", "official")
OFFSET_MODES = ("constant", "per_sample", "per_element")


def q_sample(
    x0: torch.Tensor, sqrt_alpha_bar: torch.Tensor | float, sqrt_one_minus_alpha_bar: torch.Tensor | float,
    noise: torch.Tensor,
) -> torch.Tensor:
    """Eq. 5 / 20. x0, noise: [B, H]; the two coefficients, sqrt(alpha_bar_t) and
    sqrt(1 - alpha_bar_t), are floats or tensors broadcastable to [B, H] ([B, 1]), read from the
    schedule's tables (`NoiseSchedule`): a square root taken here would go through MKL's vector
    math, whose bits depend on the processor's maker (`schedule.exact`)."""
    return sqrt_alpha_bar * x0 + sqrt_one_minus_alpha_bar * noise  # eq. 5, eq. 20


def diffuse_embedding(embedding: torch.Tensor, first_step: tuple[float, float], noise: torch.Tensor) -> torch.Tensor:
    """Eq. 19: one diffusion step applied to the target embeddings [B, H], with noise [B, H] ~ N(0, I);
    first_step is (sqrt(alpha_bar_0), sqrt(1 - alpha_bar_0)), floats read once by the caller (see `DiffuRec`)."""
    return q_sample(embedding, *first_step, noise)  # eq. 19


def standard_normal(
    shape: tuple[int, ...] | torch.Size,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """torch.randn(shape) from `generator`, or from torch's global RNG when it is None.

    The same draws as `torch.randn(shape, generator=generator)`; the keyword is left out when None
    because torch.compile cannot trace `randn(..., generator=None)` over a dynamic shape (a batch
    or history width that varies), which is what the compiled training step is.
    """
    if generator is None:
        return torch.randn(shape, device=device)
    return torch.randn(shape, device=device, generator=generator)


def forward_noise(
    shape: tuple[int, int],
    offset: float,
    delta_c: float,
    mode: str,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Eq. 17: training noise [B, H] ~ N(offset * delta_c, I) ("constant"), or with a per-sample
    or per-element random shift (see the module docstring).

    offset = 0 draws exactly `torch.randn(shape)`, so models without offset noise see the same
    random stream.
    """
    if mode not in OFFSET_MODES:
        raise ConfigError(f"params: unknown model.offset_mode {mode!r}; choose from {list(OFFSET_MODES)}")
    noise = standard_normal(shape, device=device, generator=generator)
    if offset == 0.0:
        return noise
    if mode == "constant":
        return noise + offset * delta_c  # eq. 17
    shift_shape = (shape[0], 1) if mode == "per_sample" else shape
    shift = standard_normal(shift_shape, device=device, generator=generator)
    return noise + offset * delta_c * shift


def posterior_mean(x_t: torch.Tensor, x0_hat: torch.Tensor, coef_x0: float, coef_xt: float) -> torch.Tensor:
    """mu_tilde_t of eq. 8: coef_x0 * x0_hat + coef_xt * x_t, all [B, H]."""
    return coef_x0 * x0_hat + coef_xt * x_t  # eq. 8 (reprinted as eq. 23)


def reverse_noise_scale(schedule: NoiseSchedule, mode: str) -> torch.Tensor:
    """sigma_t for every step: float64 [T], 0 at t = 0 (the last reverse step adds no noise)."""
    if mode == "paper":
        scale = schedule.posterior_variance.clone()
    elif mode == "posterior":
        scale = exact(math.sqrt, schedule.posterior_variance)
    elif mode == "official":
        scale = exact(math.sqrt, schedule.betas)
    else:
        raise ConfigError(f"params: unknown model.reverse_noise {mode!r}; choose from {list(REVERSE_NOISE_MODES)}")
    scale[0] = 0.0
    return scale


def reverse_step(
    x_t: torch.Tensor,
    x0_hat: torch.Tensor,
    coef_x0: float,
    coef_xt: float,
    scale: float,
    noise: torch.Tensor | None,
) -> torch.Tensor:
    """Eq. 22: x_{t-1} = mu_tilde_t(x_t, x0_hat) + scale * noise; noise None adds nothing. All [B, H]."""
    mean = posterior_mean(x_t, x0_hat, coef_x0, coef_xt)
    return mean if noise is None else mean + scale * noise  # eq. 22


def sample_reverse(
    denoise: Callable[[torch.Tensor, int], torch.Tensor],
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    noise_mode: str,
    generator: torch.Generator | None = None,
    timesteps: Sequence[int] | None = None,
) -> torch.Tensor:
    """Algorithm 2: x_T [B, H] -> x_0 [B, H] through t = T-1..0, x0_hat = denoise(x_t, t).

    `timesteps`: the increasing steps t_0 < ... < t_{K-1} of `schedule` to visit, from t_{K-1}
    down to t_0, with the respaced schedule's constants (module docstring); None = all T, which
    is the same chain bit for bit. Per step, `denoise` draws whatever it needs first, then the
    reverse noise eps' ~ N(0, I) is drawn from `generator`, but at the last step. The
    coefficients are Python floats, so no step waits on the device.
    """
    timesteps = range(schedule.steps) if timesteps is None else timesteps
    spaced = schedule.respaced(timesteps)
    coef_x0 = spaced.posterior_coef_x0.tolist()
    coef_xt = spaced.posterior_coef_xt.tolist()
    scale = reverse_noise_scale(spaced, noise_mode).tolist()
    x = x_T
    # Algorithm 2, line 1: s = T, ..., 1 (steps T-1..0 here; with K steps, t_{K-1}..t_0).
    for i in reversed(range(spaced.steps)):
        x0_hat = denoise(x, timesteps[i])  # Algorithm 2, lines 2-4; eq. 21
        noise = None
        if i > 0:
            noise = torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)
        x = reverse_step(x, x0_hat, coef_x0[i], coef_xt[i], scale[i], noise)  # Algorithm 2, line 5; eq. 22
    return x


@dataclass(frozen=True)
class ReverseOptions:
    """How the reverse process runs at inference; the defaults are Algorithm 2 as trained, and
    each field is an ablation of a trained model (no retraining).

    steps: K reverse steps out of the model's T, over the respaced schedule
    (`schedule.respaced_timesteps`); None = all T.
    zero_xt: the approximator receives zeros instead of x_t at every step, so its condition is
    lambda_i (0 + d_t) (eq. 15 / 16). The rest runs unchanged: x_T, then per step lambda and eps'
    are drawn in the usual order and eq. 22's update still mixes x_t in. Its last step's posterior
    collapses onto x0_hat (coef_x0 = 1, coef_xt = 0), so the result is that step's
    f_theta(history, 0, d_{t_0}) under its lambda draws: no earlier step reaches it.
    """

    steps: int | None = None
    zero_xt: bool = False

    def timesteps(self, total: int) -> tuple[int, ...]:
        """The steps of a `total`-step schedule this process visits, increasing."""
        return respaced_timesteps(total, total if self.steps is None else self.steps)
