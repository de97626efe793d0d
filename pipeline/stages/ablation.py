"""Stage `ablation DATASET VARIANT SEED`: inference ablations of one trained run, no retraining."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch
import typer

from diffurec.config import Config
from diffurec.datasets import find_dataset
from diffurec.device import device_name
from diffurec.diffusion import ReverseOptions
from diffurec.report.ablation import ONE_PASS
from diffurec.variants import find_variant
from pipeline import layout
from pipeline.app import app
from pipeline.arguments import DatasetKey, VariantKey
from pipeline.files.run_results import MeasuredSetting, write_ablation
from pipeline.params import load_config
from pipeline.ranking import load_test_run, rank_test_users


def timed(work: Callable[[], np.ndarray], device: torch.device) -> tuple[np.ndarray, float]:
    """`work()` and its wall-clock seconds. On CUDA the clock starts and stops with the device idle,
    so that no earlier kernel is counted and no queued one left out."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = work()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, time.perf_counter() - start


@dataclass(frozen=True)
class Setting:
    """One inference setting the stage times: its name (results.json, ranks.parquet), how the
    model runs under it, and the reverse steps that takes (original indices)."""

    name: str
    reverse: ReverseOptions
    timesteps: tuple[int, ...]


def reverse_settings(config: Config, model_steps: int) -> list[Setting]:
    """A diffusion model's settings: params' `ablation` on its T = `model_steps` steps. A model
    with fewer steps than ablation.steps asks for is refused here, before any ranking."""
    settings = []
    for name, (steps, zero_xt) in config.ablation.settings().items():
        reverse = ReverseOptions(steps=steps, zero_xt=zero_xt)
        settings.append(Setting(name, reverse, reverse.timesteps(model_steps)))
    return settings


@app.command()
def ablation(
    dataset: DatasetKey,
    variant: VariantKey,
    seed: Annotated[int, typer.Argument(help="Seed of the trained run; also seeds the reverse process.")],
) -> None:
    """Rank the test users with the run's model once per setting of params.yaml's `ablation`:
    the reverse process with K of its T steps for each K in ablation.steps (the respaced schedule,
    diffurec/schedule.py), and with ablation.zero_xt all T steps with x_t replaced by zeros at
    the approximator's input. Each setting starts from the run's seed, as the evaluate stage
    does, so K = T ranks exactly as it. The control (no diffusion) has no reverse process to
    ablate: it is ranked once, in its one pass as the evaluate stage ranks it (setting one_pass,
    T = 0), the reference point of quality against inference cost. The seconds of each setting
    are measured after one untimed warm-up pass.

    Writes runs/ablation/DATASET/VARIANT/seedSEED/results.json (per setting: the steps taken,
    HR/NDCG@K and seconds) and ranks.parquet (user_id and one rank column per setting).
    """
    find_dataset(dataset)
    diffusion = find_variant(variant).diffusion
    config = load_config()
    data, model, windows = load_test_run(dataset, variant, seed, config)
    device = next(model.parameters()).device
    if diffusion:
        model_steps = model.schedule.steps
        settings = reverse_settings(config, model_steps)
        # The first pass over the data pays one-time costs (allocator growth, the compiled denoiser's
        # graphs under eval.compile) that would otherwise land on whichever setting runs first. Two
        # steps visit t = T-1 and t = 0, so a compiled denoiser meets every batch shape and both of
        # its step specializations (diffurec/compiled.py) before the clock runs.
        warm_up = ReverseOptions(steps=min(2, model_steps))
    else:
        model_steps = 0
        settings = [Setting(ONE_PASS, ReverseOptions(), ())]
        warm_up = ReverseOptions()

    def rank(reverse: ReverseOptions) -> np.ndarray:
        return rank_test_users([(model, seed)], windows, config.eval, reverse)

    rank(warm_up)
    measured = []
    for setting in settings:
        ranks, seconds = timed(lambda: rank(setting.reverse), device)
        measured.append(MeasuredSetting(setting.name, setting.timesteps, setting.reverse.zero_xt, seconds, ranks))
    run = {"dataset": dataset, "variant": variant, "seed": seed, "model_steps": model_steps, "device": device_name(device)}
    write_ablation(layout.ablation_dir(dataset, variant, seed), run, data.users, measured, config.eval)
