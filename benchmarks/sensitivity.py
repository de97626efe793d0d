"""Does x0_hat depend on x_t? How much the approximator's x0_hat moves when the noised target x_t
is redrawn, against when the history is another user's; for trained runs:

    python benchmarks/sensitivity.py data/split/ml-100k.parquet runs/train/ml-100k/*/seed0/model.pt

Test windows of a random sample of users, at the first (t = T-1), middle and last (t = 0) reverse steps.
The Beauty device run of 2026-11-27 took the same measures (docs/reproduction-2026-11-27.md).

The conditioning signal is lambda * (x_t + d) with lambda ~ N(delta, delta) and delta = 0.001
(section 5.1), so x_t enters the network about a thousand times smaller than the history's
embeddings. If x0_hat barely moves when x_t is redrawn, the reverse process (Algorithm 2) adds
little beyond one pass of a sequential recommender over the history. Both measures are relative:
mean over users of ||x0_hat(a) - x0_hat(b)|| / ||x0_hat(a)||, with the step t and the lambdas
the same for a and b.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer

from common import load_data
from diffurec.inference import evaluating
from diffurec.model import DiffuRec
from diffurec.sequences import Windows, evaluation_windows
from pipeline.files.checkpoint import load_model


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


def main(
    split: Annotated[Path, typer.Argument(help="Split parquet the runs were trained on.")],
    models: Annotated[list[Path], typer.Argument(help="model.pt files of train runs.")],
    users: Annotated[int, typer.Option(help="Users sampled (all if fewer).")] = 1024,
    seed: Annotated[int, typer.Option(help="Seed of the user sample and of the draws.")] = 0,
) -> None:
    data = load_data(split)
    print(f"command: {' '.join(sys.argv)}")
    print(f"torch {torch.__version__}; CPU")
    for path in models:
        model, _ = load_model(path, torch.device("cpu"))
        histories = sample_histories(evaluation_windows(data, "test", model.config.max_len), users, seed)
        steps = model.schedule.steps
        cells = []
        for t in (steps - 1, steps // 2, 0):
            generator = torch.Generator().manual_seed(seed)
            x_t = x_t_sensitivity(model, histories, t, generator)
            history = history_sensitivity(model, histories, t, generator)
            cells.append(f"t={t}: x_t {x_t:.2e}, history {history:.2e}")
        print(f"{path} ({model.variant}, {len(histories)} users): " + "; ".join(cells))


if __name__ == "__main__":
    typer.run(main)
