"""Stage `train DATASET VARIANT SEED`: Algorithm 1 for one run, resumable after any epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import torch
import typer

from diffurec.datasets import find_dataset
from diffurec.device import device_name, resolve_device
from diffurec.metrics import check_cutoffs
from diffurec.sequences import encode
from diffurec.train import TrainResult, build_model, fit
from diffurec.variants import find_variant
from pipeline import layout
from pipeline.app import app
from pipeline.arguments import DatasetKey, VariantKey
from pipeline.files.atomic_write import atomic_dir, write_json, write_text
from pipeline.files.checkpoint import count_parameters, fingerprint, load_resume, save_model, save_resume
from pipeline.files.data_tables import read_split
from pipeline.files.studies import training_config
from pipeline.params import load_config


def history_table(result: TrainResult) -> str:
    """Per-epoch curve as TSV for `dvc plots`: loss, lr, timings and validation metrics."""
    rows = []
    for entry in result.history:
        row = {key: value for key, value in entry.items() if key != "valid"}
        row.update({f"valid_{name}": value for name, value in (entry["valid"] or {}).items()})
        rows.append(row)
    return pd.DataFrame(rows).to_csv(sep="\t", index=False, float_format="%.6f", lineterminator="\n")


@app.command()
def train(
    dataset: DatasetKey,
    variant: VariantKey,
    seed: Annotated[int, typer.Argument(help="Random seed of this run.")],
    split: Annotated[Path | None, typer.Option(help="Split table. Default: data/split/DATASET.parquet.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder. Default: runs/train/DATASET/VARIANT/seedSEED.")] = None,
    resume_file: Annotated[Path | None, typer.Option(help="Resume state. Default: .cache/resume/DATASET-VARIANT-seedSEED.pt.")] = None,
) -> None:
    """Train one run and write model.pt (best epoch), history.tsv and train.json into OUT.

    With tune.enabled the run takes VARIANT's tuned setting from studies/DATASET/VARIANT/best.yaml
    (stage `tune`) in place of params' own for the keys its study searched.

    After every epoch the full training state (weights, optimizer, scheduler, RNG states) is
    saved atomically to RESUME_FILE; an interrupted run started again with the same params
    continues from its last completed epoch and ends with the same numbers.
    """
    find_dataset(dataset)
    find_variant(variant)
    config = training_config(load_config(), dataset, variant)
    split_path = split or layout.split_file(dataset)
    out = out or layout.train_dir(dataset, variant, seed)
    resume_path = resume_file or layout.resume_file(dataset, variant, seed)

    data = encode(read_split(split_path))
    check_cutoffs(config.eval.ks, data.n_items, dataset)
    run_id = fingerprint(config, dataset, variant, seed, split_path)
    resume = load_resume(resume_path, run_id)
    if resume is not None:
        typer.echo(f"resuming {dataset}/{variant}/seed{seed} after epoch {resume.epoch}", err=True)
    model = build_model(data.n_items, config.model, variant, seed)
    result = fit(model, data, config, seed, resume=resume, on_epoch_end=lambda state: save_resume(resume_path, state, run_id))

    # The run folder appears whole or not at all: never a new model.pt beside an older train.json.
    with atomic_dir(out) as staging:
        save_model(staging / "model.pt", model, data.items)
        write_text(staging / "history.tsv", history_table(result))
        write_json(
            staging / "train.json",
            {
                "dataset": dataset,
                "variant": variant,
                "seed": seed,
                "epochs": config.train.epochs,
                "patience": config.train.patience,
                "best_epoch": result.best_epoch,
                "last_epoch": result.history[-1]["epoch"],
                "stopped_early": result.stopped_early,
                "best_valid": result.best_metrics,
                "time_to_best_s": round(result.seconds_to_best, 2),
                "total_time_s": round(result.seconds_total, 2),
                "parameters": count_parameters(model),
                "device": device_name(resolve_device(config.train.device)),
                "torch": torch.__version__,
            },
        )
    resume_path.unlink(missing_ok=True)
