"""Batched evaluation: the reverse process (Algorithm 2) for many users at once, its rounding
to full-ranking scores (eq. 26), and the seed ensemble of Algorithm 3.

Each (model, seed) member draws x_T, lambda and the reverse noise from its own
`torch.Generator` seeded with `seed` on the data's device, so an evaluation is repeatable and
independent of the global RNG (training's RNG state is left untouched). The ensemble averages
the members' softmax distributions; it is done in log space in float64, which keeps the order
of one member's raw scores exactly, so an ensemble of one ranks like that single run. Which
members Algorithm 3 takes, and how its garbled print is read: `diffurec.ensemble`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from diffurec.compiled import compile_step, compiles
from diffurec.device import autocast
from diffurec.diffusion import ReverseOptions
from diffurec.metrics import target_ranks
from diffurec.sequences import Windows

Member = tuple[nn.Module, int]


@contextlib.contextmanager
def evaluating(models: Sequence[nn.Module]) -> Iterator[None]:
    """Eval mode and no autograd inside; each model's previous mode restored after."""
    modes = [model.training for model in models]
    try:
        for model in models:
            model.eval()
        with torch.no_grad():
            yield
    finally:
        for model, mode in zip(models, modes):
            model.train(mode)


def _members(models: nn.Module | Sequence[Member], seed: int) -> list[Member]:
    if isinstance(models, nn.Module):
        return [(models, seed)]
    members = list(models)
    if not members:
        raise ValueError("an ensemble needs at least one (model, seed) member")
    return members


def _denoiser(model: nn.Module, device: torch.device, compile: str) -> Callable[..., torch.Tensor] | None:
    """The model's reverse-step network compiled when eval.compile `compile` says so on `device`,
    else None (`reconstruct` then calls it eagerly)."""
    return compile_step(model.approximator.denoise, device) if compiles(compile, device) else None


def _reconstruct(
    model: nn.Module,
    histories: torch.Tensor,
    generator: torch.Generator,
    precision: str,
    denoiser: Callable[..., torch.Tensor] | None,
    reverse: ReverseOptions = ReverseOptions(),
) -> torch.Tensor:
    """x0 [B, H] in float32 (the reverse process may run under bf16 autocast, scoring does not:
    bf16 scores would tie many items)."""
    with autocast(histories.device, precision):
        x0 = model.reconstruct(histories, generator, denoiser, reverse)
    return x0.float()


def progress_bar(batches: int, what: str, progress: bool) -> tqdm:
    """A bar over `batches` batches, shown only when asked for and stderr is a terminal, so that
    logs (`... 2>&1 | tee log`) do not fill with carriage-return redraws."""
    return tqdm(total=batches, desc=what, unit="batch", disable=None if progress else True, leave=False)


def rank_targets(
    models: nn.Module | Sequence[Member],
    windows: Windows,
    *,
    batch_size: int,
    seed: int = 0,
    mask_history: bool = False,
    precision: str = "auto",
    compile: str = "eager",
    reverse: ReverseOptions = ReverseOptions(),
    progress: bool = True,
) -> np.ndarray:
    """Rank of each window's target among all items (see `diffurec.metrics` for the tie rule).

    `models`: one model (evaluated with `seed`) or a list of (model, seed) members whose softmax
    distributions are averaged; the padding row competes if the models rank it (`ranks_padding`). Every model must sit on `windows.device`. `mask_history` removes
    the items each user interacted with before the target from the ranking. `precision` and
    `compile` are eval.precision and eval.compile; `reverse`, the inference ablations of the
    reverse process (the default is Algorithm 2 as trained). Returns int64 [S] in window order.
    """
    members = _members(models, seed)
    padding = members[0][0].ranks_padding
    if any(model.ranks_padding != padding for model, _ in members):
        raise ValueError("an ensemble's members must agree on whether padding is ranked (model.padding_class)")
    device = windows.device
    generators = [torch.Generator(device=device).manual_seed(member_seed) for _, member_seed in members]
    denoisers = [_denoiser(model, device, compile) for model, _ in members]
    ranks = torch.empty(len(windows), dtype=torch.int64, device=device)
    with evaluating([model for model, _ in members]), progress_bar(windows.n_batches(batch_size), "rank", progress) as bar:
        for batch in windows.batches(batch_size):
            log_mean = None
            for (model, _), generator, denoiser in zip(members, generators, denoisers):
                scores = model.scores(_reconstruct(model, batch.histories, generator, precision, denoiser, reverse))
                log_probs = torch.log_softmax(scores.double(), dim=1)  # Algorithm 3, line 7
                # Algorithm 3, line 8: the sum of probabilities, in log space; the 1/|members|
                # factor does not change ranks.
                log_mean = log_probs if log_mean is None else torch.logaddexp(log_mean, log_probs)
            seen = windows.seen_items(batch) if mask_history else None
            ranks[batch.rows] = target_ranks(log_mean, batch.targets, seen, padding=padding)
            bar.update()
    return ranks.cpu().numpy()


def reconstruct_users(
    model: nn.Module,
    windows: Windows,
    *,
    batch_size: int,
    seed: int = 0,
    precision: str = "auto",
    compile: str = "eager",
    progress: bool = True,
) -> np.ndarray:
    """The reverse process's x0 for every window, float32 [S, H] in window order (for t-SNE)."""
    device = windows.device
    generator = torch.Generator(device=device).manual_seed(seed)
    denoiser = _denoiser(model, device, compile)
    rows: list[torch.Tensor] = []
    outputs: list[torch.Tensor] = []
    with evaluating([model]), progress_bar(windows.n_batches(batch_size), "reconstruct", progress) as bar:
        for batch in windows.batches(batch_size):
            rows.append(batch.rows)
            outputs.append(_reconstruct(model, batch.histories, generator, precision, denoiser))
            bar.update()
    x0 = torch.empty(len(windows), outputs[0].shape[1], device=device)
    x0[torch.cat(rows)] = torch.cat(outputs)
    return x0.cpu().numpy()
