"""A training run's learning curve: its history.tsv (a row per epoch trained, validation metrics
on the epochs validated after) and its epoch cap from train.json. Every refusal names the file
and the stage that writes it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from diffurec.errors import DataError
from diffurec.report.curves import CURVE_METRIC, Curve
from pipeline import layout
from pipeline.files.run_results import read_json

COLUMN = f"valid_{CURVE_METRIC}"


def read_curve(runs: Path, dataset: str, variant: str, seed: int) -> Curve:
    """The validation curve of one (dataset, variant, seed) training run under `runs`."""
    folder = layout.train_dir(dataset, variant, seed, runs)
    fix = f"rerun the train-{variant} stage (dvc repro train-{variant})"
    train = read_json(folder / "train.json", f"train-{variant}")
    cap = train.get("epochs") if isinstance(train, dict) else None
    return _curve(folder / "history.tsv", seed, _integer(cap, folder / "train.json", "epochs", fix), fix)


def read_baseline_curve(runs: Path, dataset: str, name: str, seed: int) -> Curve:
    """The validation curve of one re-run baseline (RecBole's `seed`) under `runs`: its history.tsv
    and the epoch budget its metrics.json records among the settings RecBole resolved."""
    folder = layout.baseline_dir(dataset, name, runs)
    fix = f"rerun the baselines stage (dvc repro baselines@{dataset}-{name})"
    record = read_json(folder / "metrics.json", "baselines")
    settings = record.get("settings") if isinstance(record, dict) else None
    cap = settings.get("epochs") if isinstance(settings, dict) else None
    return _curve(folder / "history.tsv", seed, _integer(cap, folder / "metrics.json", "settings.epochs", fix), fix)


def _curve(path: Path, seed: int, cap: int, fix: str) -> Curve:
    if not path.is_file():
        raise DataError(f"{path}: not found; {fix}")
    try:
        history = pd.read_csv(path, sep="\t", usecols=["epoch", COLUMN])
    except (ValueError, pd.errors.ParserError) as error:
        raise DataError(f"{path}: not a history with columns epoch and {COLUMN} ({error}); {fix}") from error
    # Epochs trained without a validation after them (train.eval_every > 1) have no score.
    validated = history.dropna(subset=[COLUMN])
    if validated.empty:
        raise DataError(f"{path}: no validated epoch; {fix}")
    return Curve(
        seed=seed,
        epochs=tuple(int(epoch) for epoch in validated["epoch"]),
        scores=tuple(float(score) for score in validated[COLUMN]),
        last_epoch=int(history["epoch"].max()),
        cap=cap,
    )


def _integer(value: object, path: Path, key: str, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{path}: '{key}' must be an integer, got {value!r}; {fix}")
    return value
