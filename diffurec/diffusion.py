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
- `sample_reverse`: the whole chain from x_T to x_0 around any denoiser.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from diffurec.errors import ConfigError
from diffurec.schedule import NoiseSchedule

REVERSE_NOISE_MODES = ("paper", "posterior", "official")
OFFSET_MODES = ("constant", "per_sample", "per_element")


def q_sample(x0: torch.Tensor, alpha_bar: torch.Tensor | float, noise: torch.Tensor) -> torch.Tensor:
    """Eq. 5 / 20. x0, noise: [B, H]; alpha_bar: a float or a tensor broadcastable to [B, H] ([B, 1])."""
    return alpha_bar**0.5 * x0 + (1.0 - alpha_bar) ** 0.5 * noise


def diffuse_embedding(embedding: torch.Tensor, schedule: NoiseSchedule, noise: torch.Tensor) -> torch.Tensor:
    """Eq. 19: one diffusion step applied to the target embeddings [B, H], with noise [B, H] ~ N(0, I)."""
    return q_sample(embedding, schedule.alpha_bars[0].item(), noise)


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
    noise = torch.randn(shape, device=device, generator=generator)
    if offset == 0.0:
        return noise
    if mode == "constant":
        return noise + offset * delta_c
    shift_shape = (shape[0], 1) if mode == "per_sample" else shape
    shift = torch.randn(shift_shape, device=device, generator=generator)
    return noise + offset * delta_c * shift


def posterior_mean(x_t: torch.Tensor, x0_hat: torch.Tensor, coef_x0: float, coef_xt: float) -> torch.Tensor:
    """mu_tilde_t of eq. 8: coef_x0 * x0_hat + coef_xt * x_t, all [B, H]."""
    return coef_x0 * x0_hat + coef_xt * x_t


def reverse_noise_scale(schedule: NoiseSchedule, mode: str) -> torch.Tensor:
    """sigma_t for every step: float64 [T], 0 at t = 0 (the last reverse step adds no noise)."""
    if mode == "paper":
        scale = schedule.posterior_variance.clone()
    elif mode == "posterior":
        scale = schedule.posterior_variance.sqrt()
    elif mode == "official":
        scale = schedule.betas.sqrt()
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
    return mean if noise is None else mean + scale * noise


def sample_reverse(
    denoise: Callable[[torch.Tensor, int], torch.Tensor],
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    noise_mode: str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Algorithm 2: x_T [B, H] -> x_0 [B, H] through t = T-1..0, x0_hat = denoise(x_t, t).

    Per step, `denoise` draws whatever it needs first, then the reverse noise eps' ~ N(0, I) is
    drawn from `generator`. The coefficients are Python floats, so no step waits on the device.
    """
    coef_x0 = schedule.posterior_coef_x0.tolist()
    coef_xt = schedule.posterior_coef_xt.tolist()
    scale = reverse_noise_scale(schedule, noise_mode).tolist()
    x = x_T
    for t in reversed(range(schedule.steps)):
        x0_hat = denoise(x, t)
        noise = None
        if t > 0:
            noise = torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)
        x = reverse_step(x, x0_hat, coef_x0[t], coef_xt[t], scale[t], noise)
    return x
