"""Controlled comparisons: train the same model under two or more settings ("arms") over several
seeds, for the same epochs, and put their validation curves and test metrics side by side.

    OMP_NUM_THREADS=1 python benchmarks/compare.py data/split/ml-100k.parquet \\
        --arm grouped:train.batching=grouped --arm shuffled:train.batching=shuffled \\
        --seeds 0 1 2 -S train.epochs=8 --curves docs/plots/batching-ml-100k.tsv

Each arm is NAME:KEY=VALUE[,KEY=VALUE...] on top of params.yaml and the -S overrides. Every run
validates after every epoch (train.eval_every=1), so the curves have a point per epoch; the test
metrics are those of the kept checkpoint, averaged as eval.averaging says. `--curves` writes the
per-epoch rows as TSV (arm, seed, epoch, loss, validation metrics, seconds) for `dvc plots` or a
spreadsheet; the summary goes to stdout as Markdown, with the machine and the command.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from common import describe, load_config, load_data
from diffurec.inference import rank_targets
from diffurec.metrics import summarize
from diffurec.sequences import evaluation_windows
from diffurec.train import build_model, fit
from diffurec.variants import BASELINE, VARIANTS
from pipeline.files.atomic_write import write_text

REPORTED = ("HR@10", "NDCG@10", "HR@20", "NDCG@20")


def parse_arm(text: str) -> tuple[str, list[str]]:
    """"NAME:key=value,key=value" -> (NAME, ["key=value", ...])."""
    name, sep, settings = text.partition(":")
    if not sep or not name or not settings:
        raise typer.BadParameter(f"{text!r}: expected NAME:KEY=VALUE[,KEY=VALUE...], e.g. shuffled:train.batching=shuffled")
    return name, [setting for setting in settings.split(",") if setting]


def main(
    split: Annotated[Path, typer.Argument(help="Split parquet, e.g. data/split/ml-100k.parquet.")],
    arms: Annotated[list[str], typer.Option("--arm", help="NAME:KEY=VALUE[,KEY=VALUE] (repeat, at least two).")],
    seeds: Annotated[list[int], typer.Option("--seeds", help="Seeds of every arm.")] = [0, 1, 2],
    variant: Annotated[str, typer.Option(help=f"One of {', '.join(VARIANTS)}.")] = BASELINE,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto; default: params.yaml's.")] = None,
    params: Annotated[Path, typer.Option(help="Params file.")] = Path("params.yaml"),
    set_: Annotated[list[str], typer.Option("-S", "--set", help="Override a param for every arm: -S train.epochs=8.")] = [],
    curves: Annotated[Path | None, typer.Option(help="Write the per-epoch curves here as TSV.")] = None,
) -> None:
    """Train VARIANT under each arm for each seed; print test metrics and validation curves."""
    parsed = [parse_arm(arm) for arm in arms]
    if len(parsed) < 2 or len({name for name, _ in parsed}) != len(parsed):
        raise typer.BadParameter("give at least two --arm options with distinct names")
    data = load_data(split)
    rows, results = [], []
    for name, settings in parsed:
        config = load_config(params, [*set_, *settings, "train.eval_every=1", "train.eval_offset=0"], device)
        test = evaluation_windows(data, "test", config.model.max_len)
        for seed in seeds:
            model = build_model(data.n_items, config.model, variant, seed)
            started = time.perf_counter()
            result = fit(model, data, config, seed, progress=False)
            seconds = time.perf_counter() - started
            ranks = rank_targets(model, test.to(next(model.parameters()).device), batch_size=config.eval.batch_size,
                                 seed=seed, mask_history=config.eval.mask_history, precision=config.eval.precision,
                                 compile=config.eval.compile, progress=False)
            metrics = summarize(ranks, (10, 20), config.eval.averaging_batch())
            results.append({"arm": name, "seed": seed, "best_epoch": result.best_epoch, "seconds": seconds, **metrics})
            for entry in result.history:
                valid = {f"valid_{key}": value for key, value in (entry["valid"] or {}).items() if key in REPORTED}
                rows.append({"arm": name, "seed": seed, "epoch": entry["epoch"], "loss": entry["loss"], **valid,
                             "train_seconds": entry["train_seconds"]})
            print(f"{name} seed {seed}: test NDCG@10 {metrics['NDCG@10']:.4f}, best epoch {result.best_epoch}, "
                  f"{seconds:.0f} s", file=sys.stderr)
    table = pd.DataFrame(rows)
    if curves is not None:
        write_text(curves, table.to_csv(sep="\t", index=False, float_format="%.6f", lineterminator="\n"))
    print(render(pd.DataFrame(results), table, describe(config), " ".join(sys.argv)))


def render(results: pd.DataFrame, curves: pd.DataFrame, machine: str, command: str) -> str:
    """Markdown: test metrics per arm (mean ± std over seeds) and the mean validation curve."""
    lines = [f"machine: {machine}", f"command: `{command}`", "",
             "| arm | seeds | " + " | ".join(f"test {m}" for m in REPORTED) + " | best epochs | s per run |",
             "| --- | --- | " + " | ".join("---" for _ in REPORTED) + " | --- | --- |"]
    for arm, group in results.groupby("arm", sort=False):
        cells = [f"{group[m].mean():.4f} ± {group[m].std(ddof=1) if len(group) > 1 else 0.0:.4f}" for m in REPORTED]
        epochs = ", ".join(str(e) for e in group["best_epoch"])
        lines.append(f"| {arm} | {len(group)} | " + " | ".join(cells) + f" | {epochs} | {group['seconds'].mean():.0f} |")
    lines += ["", "Validation NDCG@10 by epoch (mean over seeds):", ""]
    pivot = curves.pivot_table(index="epoch", columns="arm", values="valid_NDCG@10", aggfunc="mean", sort=False)
    lines.append("| epoch | " + " | ".join(pivot.columns) + " |")
    lines.append("| --- | " + " | ".join("---" for _ in pivot.columns) + " |")
    for epoch, values in pivot.iterrows():
        lines.append(f"| {epoch} | " + " | ".join(f"{v:.4f}" if np.isfinite(v) else "-" for v in values) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    typer.run(main)
