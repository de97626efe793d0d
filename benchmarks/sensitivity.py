"""Does x0_hat depend on x_t? For trained runs, the relative change of the approximator's output
when x_t is redrawn, beside its change when the history is another user's (diffurec.sensitivity):

    python benchmarks/sensitivity.py data/split/ml-100k.parquet runs/train/ml-100k/*/seed0/model.pt

Test windows of a random sample of users, at the first (t = T-1), middle and last (t = 0) reverse steps.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import torch
import typer

from common import load_data
from diffurec.sensitivity import history_sensitivity, sample_histories, x_t_sensitivity
from diffurec.sequences import evaluation_windows
from pipeline.checkpoint import load_model


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
