"""Do the variants learn real data? Train each for a few epochs, rank every test item, and put
their test metrics beside a popularity ranking's (items ordered by training + valid counts).

    python benchmarks/quality.py data/split/ml-100k.parquet -S train.epochs=5

Whether bf16 autocast changes the results: add `-S train.precision=bf16 -S eval.precision=bf16`
(it runs on the CPU too). The popularity ranking is also scored on the validation items (counts
from training only), which shows how much harder the test items are than the validation items
whatever the model; `--popularity-only` prints just that.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from common import describe, load_config, load_data
from diffurec.inference import rank_targets
from diffurec.metrics import summarize
from diffurec.report.popularity import popularity_ranks, popularity_scores
from diffurec.sequences import evaluation_windows
from diffurec.train import build_model, fit
from diffurec.variants import VARIANTS


def main(
    split: Annotated[Path, typer.Argument(help="Split parquet, e.g. data/split/ml-100k.parquet.")],
    variants: Annotated[list[str], typer.Option("--variant", help="Variant to train (repeatable).")] = list(VARIANTS),
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto; default: params.yaml's.")] = None,
    params: Annotated[Path, typer.Option(help="Params file.")] = Path("params.yaml"),
    set_: Annotated[list[str], typer.Option("-S", "--set", help="Override a param: -S train.epochs=5.")] = [],
    seed: Annotated[int, typer.Option(help="Seed of model, batches and reverse process.")] = 0,
    popularity_only: Annotated[bool, typer.Option(help="Score the popularity ranking only; train nothing.")] = False,
) -> None:
    config = load_config(params, set_, device)
    data = load_data(split)
    test = evaluation_windows(data, "test", config.model.max_len)
    print(f"machine: {describe(config)}")
    print(f"command: {' '.join(sys.argv)}")
    print(f"config: model={config.model} train={config.train} eval={config.eval}")
    before_test = [np.append(train, valid) for train, valid in zip(data.train, data.valid)]
    valid_windows = evaluation_windows(data, "valid", config.model.max_len)
    for target, windows, counted in (("valid", valid_windows, data.train), ("test", test, before_test)):
        ranks = popularity_ranks(popularity_scores(counted, data.n_items), windows, batch_size=config.eval.batch_size,
                                 mask_history=config.eval.mask_history)
        print(f"popularity: {target} {_line(summarize(ranks, config.eval.ks, config.eval.averaging_batch()))}")
    if popularity_only:
        return
    for variant in variants:
        model = build_model(data.n_items, config.model, variant, seed)
        started = time.perf_counter()
        result = fit(model, data, config, seed)
        seconds = time.perf_counter() - started
        windows = test.to(next(model.parameters()).device)
        ranks = rank_targets(model, windows, batch_size=config.eval.batch_size, seed=seed,
                             mask_history=config.eval.mask_history, precision=config.eval.precision,
                             compile=config.eval.compile)
        epoch_seconds = np.mean([row["train_seconds"] for row in result.history])
        print(f"{variant}: test {_line(summarize(ranks, config.eval.ks, config.eval.averaging_batch()))}; best epoch {result.best_epoch} of "
              f"{len(result.history)}, {epoch_seconds:.1f} s per training epoch, {seconds:.0f} s in all")
        for row in result.history:
            print(f"  epoch {row['epoch']}: loss {row['loss']:.4f} valid NDCG@10 {row['valid']['NDCG@10']:.4f}")


def _line(metrics: dict[str, float]) -> str:
    return " ".join(f"{name} {value:.4f}" for name, value in metrics.items())


if __name__ == "__main__":
    typer.run(main)
