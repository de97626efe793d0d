"""Algorithm 1: train DiffuRec on every prefix of every training sequence, validate on the
held-out item, keep the best epoch, and be resumable from any epoch's `TrainState`.

Validation runs after the epochs that train.eval_every and train.eval_offset name and after the
last one. The kept checkpoint is the best validation NDCG@10 (train.selection "ndcg10"), or the
last validation at which any metric beat its own best so far ("any", the official code's rule,
on its values rounded to 4 decimals in percent). With train.patience > 0 training stops after
that many validations in a row without such an improvement.

Determinism: the run is seeded once (torch, numpy, python RNGs) before the first epoch; the
batch order of epoch e comes from `numpy.random.default_rng([seed, e])`, validation draws from
its own generator (see `diffurec.inference`), and every RNG state is part of `TrainState`, so
a run resumed from epoch k ends with the same numbers as an uninterrupted one (on CPU).

Speed: data and losses stay on the device; the only host syncs are one per epoch (its mean
loss) and one per validation (the ranks). Adam is fused (one kernel for every parameter: on the
CPU a fifth of the unfused step's time); on CUDA, with train.precision "auto" (the default) or
"bf16", the forward pass runs under bf16 autocast; train.compile
compiles the loss and its backward (diffurec/compiled.py), with the same numbers.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from diffurec.compiled import compile_step, compiles
from diffurec.config import Config, ModelConfig, TrainConfig
from diffurec.device import autocast, resolve_device
from diffurec.errors import ConfigError, DataError, TrainingError
from diffurec.inference import progress_bar, rank_targets
from diffurec.metrics import summarize
from diffurec.model import ItemScorer, new_model
from diffurec.sequences import SequenceData, Windows, evaluation_windows, training_windows

# The best epoch is the one with the highest validation NDCG@10 (the first, on ties).
SELECTION_METRIC = "NDCG@10"
SELECTION_K = 10
# The validation subsample (train.valid_users) is the same users for every seed and variant.
VALID_SAMPLE_SEED = 0


@dataclass(frozen=True)
class TrainState:
    """Everything needed to continue a run after `epoch` completed epochs.

    `as_dict()` holds only dicts, lists, numbers and tensors, so `torch.save` / `torch.load`
    (weights_only) round-trip it. `best_model` is None until the first validation.
    """

    epoch: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, Any]
    history: list[dict[str, Any]]
    best_epoch: int
    best_metrics: dict[str, float] | None
    best_model: dict[str, torch.Tensor] | None
    seconds: float
    seconds_to_best: float
    # Each validation metric's best so far (selection "any"), validations since the last
    # improvement, and whether early stopping ended the run.
    metric_bests: dict[str, float]
    stale_validations: int
    stopped: bool

    def as_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainState:
        return cls(**raw)


@dataclass(frozen=True)
class TrainResult:
    """The outcome of `fit`; the model it trained now holds the best epoch's weights."""

    history: list[dict[str, Any]]
    best_epoch: int
    best_metrics: dict[str, float]
    seconds_to_best: float
    seconds_total: float
    stopped_early: bool


def build_model(n_items: int, config: ModelConfig, variant: str, seed: int) -> ItemScorer:
    """A freshly initialised model of `variant` (DiffuRec or the control) whose initial weights
    depend only on `seed`."""
    torch.manual_seed(seed)
    return new_model(n_items, config, variant)


def validation_rows(n_users: int, valid_users: int) -> np.ndarray:
    """Users validated every epoch: all (valid_users 0 or >= n_users) or a fixed sample, sorted."""
    if valid_users == 0 or valid_users >= n_users:
        return np.arange(n_users)
    return np.sort(np.random.default_rng(VALID_SAMPLE_SEED).choice(n_users, valid_users, replace=False))


def validation_ks(ks: tuple[int, ...]) -> list[int]:
    """The reported cut-offs plus the selection cut-off."""
    return sorted(set(ks) | {SELECTION_K})


def _rng_state() -> dict[str, Any]:
    kind, key, position, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [kind, key.tolist(), position, has_gauss, gauss],
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, key, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.array(key, dtype=np.uint32), position, has_gauss, gauss))
    random.setstate(state["python"])


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _snapshot(state_dict: dict[str, Any]) -> dict[str, Any]:
    """A deep copy, so later training steps do not change what was handed out."""
    return copy.deepcopy(state_dict)


def _train_epoch(model: nn.Module, loss_of: Callable[..., torch.Tensor], optimizer: torch.optim.Optimizer,
                 samples: Windows, batch_size: int, batching: str, precision: str, rng: np.random.Generator,
                 bar: tqdm) -> float:
    """One pass over every training window; returns the mean loss per sample. `loss_of` is
    `model` itself or its compiled step (train.compile)."""
    model.train()
    total = torch.zeros((), device=samples.device)
    for batch in samples.batches(batch_size, rng, batching):  # Algorithm 1, line 1
        with autocast(samples.device, precision):
            loss = loss_of(batch.histories, batch.targets)  # Algorithm 1, lines 2-6 (DiffuRec.forward)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()  # Algorithm 1, line 7
        total += loss.detach().float() * len(batch.host_rows)
        bar.update()
    return total.item() / len(samples)


def validates_after(epoch: int, settings: TrainConfig) -> bool:
    """Whether validation runs after `epoch` (1-based)."""
    offset = epoch - settings.eval_offset
    return epoch == settings.epochs or (offset > 0 and offset % settings.eval_every == 0)


def improvement(
    metrics: dict[str, float], best: dict[str, float] | None, metric_bests: dict[str, float], selection: str
) -> tuple[bool, dict[str, float]]:
    """(whether this validation improves under `selection`, every metric's best so far after it).

    "ndcg10": NDCG@10 above the kept checkpoint's (ties keep the earlier epoch). "any": some
    metric above its own best so far, compared as the official code does, in percent rounded to
    4 decimals.
    """
    if selection == "ndcg10":
        better = best is None or metrics[SELECTION_METRIC] > best[SELECTION_METRIC]
        return better, metric_bests
    rounded = {name: round(value * 100, 4) for name, value in metrics.items()}
    better = any(name not in metric_bests or value > metric_bests[name] for name, value in rounded.items())
    return better, {name: max(value, metric_bests.get(name, value)) for name, value in rounded.items()}


def fit(
    model: nn.Module,
    data: SequenceData,
    config: Config,
    seed: int,
    *,
    resume: TrainState | None = None,
    on_epoch_end: Callable[[TrainState], None] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train `model` (a DiffuRec: forward(history, target) -> loss, reconstruct, scores) for
    `config.train.epochs` epochs, or the rest of them from `resume`.

    Validates on each user's held-out item (`config.train.valid_users` of them) every
    `train.eval_every` epochs and after the last one, with `config.eval`'s batch size, cut-offs
    and history masking and the reverse-process seed `seed`. Calls `on_epoch_end(state)` after
    every epoch. On return the model holds the best epoch's weights.
    """
    settings = config.train
    device = resolve_device(settings.device)
    model.to(device)
    samples = training_windows(data, config.model.max_len).to(device)
    if len(samples) == 0:
        raise DataError("no training samples: every user has a single training item; "
                        "lower the dataset's filters (data.min_user_inter) or use a longer-history dataset")
    valid = evaluation_windows(data, "valid", config.model.max_len)
    valid = valid.subset(validation_rows(len(valid), settings.valid_users)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay,
                                 fused=True)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, settings.lr_decay_epoch, settings.lr_decay_gamma)
    loss_of = compile_step(model, device) if compiles(settings.compile, device) else model

    if resume is None:
        _seed_everything(seed)
        state = TrainState(0, {}, {}, {}, {}, [], 0, None, None, 0.0, 0.0, {}, 0, False)
    else:
        if resume.epoch > settings.epochs:
            raise ConfigError(f"params: the checkpoint is at epoch {resume.epoch}, past train.epochs "
                              f"({settings.epochs}); raise train.epochs or start afresh")
        model.load_state_dict(resume.model)
        optimizer.load_state_dict(resume.optimizer)
        scheduler.load_state_dict(resume.scheduler)
        _set_rng_state(resume.rng)
        state = resume

    # Algorithm 1, line 8: repeat, for train.epochs epochs or until early stopping.
    for epoch in range(state.epoch + 1, settings.epochs + 1):
        if state.stopped:
            break
        lr = optimizer.param_groups[0]["lr"]
        started = time.perf_counter()
        with progress_bar(samples.n_batches(settings.batch_size), f"epoch {epoch}", progress) as bar:
            loss = _train_epoch(model, loss_of, optimizer, samples, settings.batch_size, settings.batching,
                                settings.precision, np.random.default_rng([seed, epoch]), bar)
        if not math.isfinite(loss):
            # Checked once per epoch (one host sync); the weights are already ruined, keep none.
            raise TrainingError(f"training diverged: the mean loss of epoch {epoch} is {loss}; "
                                f"lower train.lr (now {lr}) and rerun")
        scheduler.step()
        train_seconds = time.perf_counter() - started

        started = time.perf_counter()
        metrics = None
        improved, metric_bests, stale = False, state.metric_bests, state.stale_validations
        if validates_after(epoch, settings):
            ranks = rank_targets(model, valid, batch_size=config.eval.batch_size, seed=seed,
                                 mask_history=config.eval.mask_history, precision=config.eval.precision,
                                 compile=config.eval.compile, progress=progress)
            metrics = summarize(ranks, validation_ks(config.eval.ks), config.eval.averaging_batch())
            improved, metric_bests = improvement(metrics, state.best_metrics, state.metric_bests, settings.selection)
            stale = 0 if improved else stale + 1
        valid_seconds = time.perf_counter() - started

        seconds = state.seconds + train_seconds + valid_seconds
        weights = _snapshot(model.state_dict())
        state = TrainState(
            epoch=epoch,
            model=weights,
            optimizer=_snapshot(optimizer.state_dict()),
            scheduler=_snapshot(scheduler.state_dict()),
            rng=_rng_state(),
            history=[*state.history, {"epoch": epoch, "loss": loss, "lr": lr, "train_seconds": train_seconds,
                                      "valid_seconds": valid_seconds, "valid": metrics}],
            best_epoch=epoch if improved else state.best_epoch,
            best_metrics=metrics if improved else state.best_metrics,
            best_model=weights if improved else state.best_model,
            seconds=seconds,
            seconds_to_best=seconds if improved else state.seconds_to_best,
            metric_bests=metric_bests,
            stale_validations=stale,
            stopped=settings.patience > 0 and stale >= settings.patience,
        )
        if on_epoch_end is not None:
            on_epoch_end(state)

    model.load_state_dict(state.best_model)
    return TrainResult(
        history=state.history,
        best_epoch=state.best_epoch,
        best_metrics=state.best_metrics,
        seconds_to_best=state.seconds_to_best,
        seconds_total=state.seconds,
        stopped_early=state.stopped,
    )
