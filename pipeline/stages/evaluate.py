"""Stages `evaluate DATASET VARIANT SEED` and `ensemble DATASET VARIANT`: test-set full ranking."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from diffurec.config import Config
from diffurec.device import resolve_device
from diffurec.errors import DataError
from diffurec.inference import rank_targets
from diffurec.metrics import summarize
from diffurec.model import DiffuRec
from diffurec.sequences import SequenceData, encode, evaluation_windows
from pipeline import layout
from pipeline.app import app
from pipeline.checkpoint import load_model
from pipeline.data_tables import read_split
from pipeline.datasets import dataset_source
from pipeline.fileio import atomic_dir, write_json, write_with
from pipeline.params import load_config
from pipeline.stages.train import check_variant


def _test_ranks(members: list[tuple[DiffuRec, int]], data: SequenceData, config: Config) -> np.ndarray:
    model = members[0][0]
    windows = evaluation_windows(data, "test", model.config.max_len).to(next(model.parameters()).device)
    return rank_targets(members, windows, batch_size=config.eval.batch_size, mask_history=config.eval.mask_history,
                        precision=config.eval.precision)


def load_members(dataset: str, variant: str, seeds: list[int], data: SequenceData, config: Config) -> list[tuple[DiffuRec, int]]:
    device = resolve_device(config.eval.device)
    members = []
    for seed in seeds:
        path = layout.train_dir(dataset, variant, seed) / "model.pt"
        model, items = load_model(path, device)
        if items != data.items:
            raise DataError(f"{path}: trained on another version of the {dataset} split; rerun `dvc repro` to retrain it")
        members.append((model, seed))
    return members


def _write_results(out: Path, data: SequenceData, ranks: np.ndarray, config: Config) -> None:
    """metrics.json and ranks.parquet, replacing `out` as a whole so that they always belong together."""
    metrics = {name: round(value, 6) for name, value in summarize(ranks, config.eval.ks, config.eval.averaging_batch()).items()}
    table = pd.DataFrame({"user_id": data.users, "rank": ranks.astype(np.int64)})
    with atomic_dir(out) as staging:
        write_json(staging / "metrics.json", {**metrics, "users": len(ranks)})
        write_with(staging / "ranks.parquet", lambda tmp: table.to_parquet(tmp, index=False))


@app.command()
def evaluate(
    dataset: Annotated[str, typer.Argument(help="Dataset key, e.g. ml-100k.")],
    variant: Annotated[str, typer.Argument(help="baseline, v1 or v2.")],
    seed: Annotated[int, typer.Argument(help="Seed of the trained run; also seeds the reverse process.")],
) -> None:
    """Rank every real item for each user's test item with the run's best model (Algorithm 2).

    Writes runs/eval/DATASET/VARIANT/seedSEED/metrics.json (HR/NDCG@K over users, averaged as
    eval.averaging says) and
    ranks.parquet (user_id, rank) for paired significance tests.
    """
    dataset_source(dataset)
    check_variant(variant)
    config = load_config()
    data = encode(read_split(layout.split_file(dataset)))
    members = load_members(dataset, variant, [seed], data, config)
    _write_results(layout.eval_dir(dataset, variant, seed), data, _test_ranks(members, data, config), config)


@app.command()
def ensemble(
    dataset: Annotated[str, typer.Argument(help="Dataset key, e.g. ml-100k.")],
    variant: Annotated[str, typer.Argument(help="baseline, v1 or v2.")],
) -> None:
    """Algorithm 3: average the softmax distributions of every seed's run (seeds from params.yaml).

    Each seed's model runs its reverse process with its own seed, exactly as in `evaluate`, so
    an ensemble of one seed reproduces that seed's ranks. With eval.ensemble "inference" the
    first seed's model runs once per seed instead. Writes runs/ensemble/DATASET/VARIANT/.
    """
    dataset_source(dataset)
    check_variant(variant)
    config = load_config()
    data = encode(read_split(layout.split_file(dataset)))
    seeds = list(config.seeds)
    if config.eval.ensemble == "runs":
        members = load_members(dataset, variant, seeds, data, config)
    else:
        ((model, _),) = load_members(dataset, variant, seeds[:1], data, config)
        members = [(model, seed) for seed in seeds]
    _write_results(layout.ensemble_dir(dataset, variant), data, _test_ranks(members, data, config), config)
