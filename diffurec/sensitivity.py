"""How much the approximator's x0_hat depends on its inputs: the noised target x_t against the
history.

The conditioning signal is lambda * (x_t + d) with lambda ~ N(delta, delta) and delta = 0.001
(section 5.1), so x_t enters the network about a thousand times smaller than the history's
embeddings. If x0_hat barely moves when x_t is redrawn, the reverse process (Algorithm 2) adds
little beyond one pass of a sequential recommender over the history. Both measures are relative:
mean over users of ||x0_hat(a) - x0_hat(b)|| / ||x0_hat(a)||, with the step t and the lambdas
the same for a and b.
"""

from __future__ import annotations

import numpy as np
import torch

from diffurec.inference import evaluating
from diffurec.model import DiffuRec
from diffurec.sequences import Windows


def sample_histories(windows: Windows, users: int, seed: int) -> torch.Tensor:
    """The histories [B, L] of `users` windows drawn without replacement (all if fewer), in
    window order, left-padded to the longest among them, on the windows' device."""
    rows = np.sort(np.random.default_rng(seed).choice(len(windows), min(users, len(windows)), replace=False))
    return windows.histories(torch.as_tensor(rows).to(windows.device), int(windows.host_lengths[rows].max()))


def _relative_change(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm(dim=1) / a.norm(dim=1)).mean().item()


def _conditioned(model: DiffuRec, histories: torch.Tensor, t: int, generator: torch.Generator):
    """The encoded histories, step embedding of t and lambdas one comparison holds fixed."""
    approximator = model.approximator
    encoded = approximator.encode(histories)
    step = approximator.step_embedding(torch.tensor([t], device=histories.device))
    return encoded, step, approximator.draw_lambda(encoded.hidden.shape, histories.device, generator)


def _draw_x_t(model: DiffuRec, histories: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn((histories.shape[0], model.approximator.hidden), device=histories.device, generator=generator)


def x_t_sensitivity(model: DiffuRec, histories: torch.Tensor, t: int, generator: torch.Generator) -> float:
    """Relative change of x0_hat [B, H] when x_t ~ N(0, I) is drawn afresh (eval mode); histories [B, L]."""
    with evaluating([model]):
        encoded, step, lambdas = _conditioned(model, histories, t, generator)
        first, second = _draw_x_t(model, histories, generator), _draw_x_t(model, histories, generator)
        denoise = model.approximator.denoise
        return _relative_change(denoise(encoded, first, step, lambdas), denoise(encoded, second, step, lambdas))


def history_sensitivity(model: DiffuRec, histories: torch.Tensor, t: int, generator: torch.Generator) -> float:
    """Relative change of x0_hat [B, H] when each user's history is swapped for the next user's in
    the batch (x_t, t and lambdas kept; eval mode): the yardstick for `x_t_sensitivity`.
    histories [B, L], B >= 2."""
    with evaluating([model]):
        encoded, step, lambdas = _conditioned(model, histories, t, generator)
        swapped = model.approximator.encode(histories.roll(1, dims=0))
        x_t = _draw_x_t(model, histories, generator)
        denoise = model.approximator.denoise
        return _relative_change(denoise(encoded, x_t, step, lambdas), denoise(swapped, x_t, step, lambdas))
