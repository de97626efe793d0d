"""How many PyTorch operator calls one training step and one reverse step make, per precision
(for the control, which has no reverse step: its one pass over the history).

On a GPU whose epoch time hardly changes with the batch's size, the step is bound by the host
dispatching operators (each a kernel launch or more), not by arithmetic; this counts them, on
any device, with torch.profiler:

    python benchmarks/op_count.py .device/split/amazon-beauty.parquet --params profiles/paper.yaml --device cpu

Counts are aten calls, nested ones included (aten::linear calls aten::addmm, ...); on the CPU
Adam is not fused, so its per-parameter calls are in the training step's count.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from torch.profiler import ProfilerActivity, profile

from common import describe, load_config, load_data
from diffurec.device import PRECISIONS, autocast, resolve_device
from diffurec.sequences import Batch, training_windows
from diffurec.train import build_model
from diffurec.variants import VARIANTS, find_variant


def count_calls(step: Callable[[], None]) -> int:
    """aten calls made by one `step()`, after one untimed warm-up call."""
    step()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        step()
    return sum(event.count for event in profiler.key_averages() if event.key.startswith("aten::"))


def step_calls(model: torch.nn.Module, batch: Batch, precision: str, lr: float) -> tuple[int, int]:
    """aten calls of one training step (forward, backward, Adam) and of one reverse step on `batch`
    (the control: of its one pass, the whole of its inference)."""
    device = batch.histories.device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=device.type == "cuda")

    def train_step() -> None:
        with autocast(device, precision):
            loss = model(batch.histories, batch.targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    training = count_calls(train_step)
    model.eval()
    if not find_variant(model.variant).diffusion:
        with torch.no_grad(), autocast(device, precision):
            return training, count_calls(lambda: model.reconstruct(batch.histories))
    approximator = model.approximator
    with torch.no_grad(), autocast(device, precision):
        encoded = approximator.encode(batch.histories)
        step = approximator.step_embedding(torch.zeros(1, dtype=torch.int64, device=device))
        x_t = torch.randn(len(batch.host_rows), approximator.hidden, device=device)

        def reverse_step() -> None:
            approximator.denoise(encoded, x_t, step, approximator.draw_lambda(encoded.hidden.shape, device))

        return training, count_calls(reverse_step)


def main(
    split: Annotated[Path, typer.Argument(help="Split parquet, e.g. data/split/ml-100k.parquet.")],
    variants: Annotated[list[str], typer.Option("--variant", help="Variant (repeatable).")] = list(VARIANTS),
    precisions: Annotated[list[str], typer.Option("--precision", help="Precision (repeatable).")] = ["fp32", "bf16"],
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto; default: params.yaml's.")] = None,
    params: Annotated[Path, typer.Option(help="Params file.")] = Path("params.yaml"),
    set_: Annotated[list[str], typer.Option("-S", "--set", help="Override a param: -S train.batch_size=512.")] = [],
    batch_size: Annotated[int, typer.Option(help="Windows in the counted batch (counts hardly depend on it).")] = 64,
) -> None:
    config = load_config(params, set_, device)
    data = load_data(split)
    where = resolve_device(config.train.device)
    windows = training_windows(data, config.model.max_len).to(where)
    batch = next(windows.batches(batch_size, np.random.default_rng(0)))
    print(f"machine: {describe(config)}")
    print(f"command: {' '.join(sys.argv)}")
    for precision in precisions:
        if precision not in PRECISIONS:
            raise typer.BadParameter(f"unknown precision {precision!r}; choose from {list(PRECISIONS)}")
        for variant in variants:
            model = build_model(data.n_items, config.model, variant, 0).to(where)
            training, inference = step_calls(model, batch, precision, config.train.lr)
            unit = "reverse step (denoiser only)" if find_variant(variant).diffusion else "one pass (no diffusion)"
            print(f"{variant} {precision}: {training:,} aten calls per training step, {inference:,} per {unit}")


if __name__ == "__main__":
    typer.run(main)
