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
    path = folder / "history.tsv"
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
    train = read_json(folder / "train.json", f"train-{variant}")
    cap = train.get("epochs") if isinstance(train, dict) else None
    if isinstance(cap, bool) or not isinstance(cap, int):
        raise DataError(f"{folder / 'train.json'}: 'epochs' must be an integer, got {cap!r}; {fix}")
    return Curve(
        seed=seed,
        epochs=tuple(int(epoch) for epoch in validated["epoch"]),
        scores=tuple(float(score) for score in validated[COLUMN]),
        last_epoch=int(history["epoch"].max()),
        cap=cap,
    )
