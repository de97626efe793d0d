"""Training samples/s and evaluation users/s of the real code path (`diffurec.train.fit`).

Runs `--epochs` epochs (each followed by a full-ranking validation of train.valid_users users,
0 = all, with model.steps reverse steps) and prints every epoch's rates; the last epoch is the
warm number to quote (the first pays for start-up: CUDA context, kernels, allocator).

    python benchmarks/speed.py data/split/ml-100k.parquet --variant v1
    python benchmarks/speed.py data/split/amazon-beauty.parquet --device cuda \
        -S model.max_len=50 -S train.batch_size=512 -S model.hidden=128 -S model.blocks=4 \
        -S eval.batch_size=1024
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from common import describe, load_config, load_data
from diffurec.sequences import training_windows
from diffurec.train import build_model, fit, validation_rows


def main(
    split: Annotated[Path, typer.Argument(help="Split parquet, e.g. data/split/ml-100k.parquet.")],
    variant: Annotated[str, typer.Option(help="baseline, v1 or v2.")] = "v1",
    epochs: Annotated[int, typer.Option(help="Epochs to time; the last one is the warm figure.")] = 2,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto; default: params.yaml's.")] = None,
    params: Annotated[Path, typer.Option(help="Params file.")] = Path("params.yaml"),
    set_: Annotated[list[str], typer.Option("-S", "--set", help="Override a param: -S train.batch_size=512.")] = [],
    seed: Annotated[int, typer.Option(help="Seed of model, batches and reverse process.")] = 0,
) -> None:
    config = load_config(params, set_, device)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=epochs, eval_every=1))
    data = load_data(split)
    samples = len(training_windows(data, config.model.max_len))
    users = len(validation_rows(len(data.users), config.train.valid_users))
    print(f"machine: {describe(config)}")
    print(f"command: {' '.join(sys.argv)}")
    print(f"data: {split} ({len(data.users)} users, {data.n_items} items, {samples} training samples/epoch, "
          f"{users} users validated)")
    print(f"config: variant={variant} model={config.model} train.batch_size={config.train.batch_size} "
          f"eval.batch_size={config.eval.batch_size}")
    model = build_model(data.n_items, config.model, variant, seed)
    started = time.perf_counter()
    result = fit(model, data, config, seed)
    for row in result.history:
        print(
            f"epoch {row['epoch']}: train {row['train_seconds']:.2f} s "
            f"({samples / row['train_seconds']:.1f} samples/s), evaluate {row['valid_seconds']:.2f} s "
            f"({users / row['valid_seconds']:.1f} users/s), loss {row['loss']:.4f}, "
            f"valid NDCG@10 {row['valid']['NDCG@10']:.4f}"
        )
    print(f"wall clock including set-up: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    typer.run(main)
