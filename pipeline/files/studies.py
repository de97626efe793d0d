"""A hyperparameter study's committed outcome (stage `tune`): best.yaml and trials.tsv, written
together, and the chosen setting as the training stages read it when tune.enabled is true."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from diffurec.config import Config
from diffurec.errors import ConfigError
from pipeline import layout
from pipeline.files.atomic_write import atomic_dir, write_text
from pipeline.files.yaml_file import read_yaml

BEST = "best.yaml"
TRIALS = "trials.tsv"


def write_study(folder: Path, outcome: dict[str, Any], trials: pd.DataFrame) -> None:
    """Both files of one study, replacing `folder` whole."""
    with atomic_dir(folder) as staging:
        write_text(staging / BEST, yaml.safe_dump(outcome, sort_keys=False))
        write_text(staging / TRIALS, trials.to_csv(sep="\t", index=False, float_format="%.6g", lineterminator="\n"))


def read_outcome(folder: Path) -> dict[str, Any]:
    """best.yaml of the study in `folder`."""
    fix = f"run the study (python -m pipeline tune {folder.parent.name} {folder.name}) or set tune.enabled false"
    outcome = read_yaml(folder / BEST, ConfigError, fix, fix)
    if not isinstance(outcome, dict) or not isinstance(outcome.get("best"), dict):
        raise ConfigError(f"{folder / BEST}: has no 'best' setting; {fix}")
    return outcome


def read_trials(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / TRIALS, sep="\t")


def best_setting(folder: Path) -> dict[str, float]:
    """The setting the study in `folder` chose, as `Config.with_setting` takes it."""
    outcome = read_outcome(folder)
    if not outcome.get("searched"):
        raise ConfigError(f"{folder / BEST}: records no search (written while tune.enabled was false); "
                          f"run python -m pipeline tune {folder.parent.name} {folder.name} with tune.enabled true")
    return outcome["best"]


def training_config(config: Config, dataset: str, model: str) -> Config:
    """The config `model` trains with on `dataset`: params as they are, or with tune.enabled its
    study's best setting in place of params' own for the tuned keys."""
    if not config.tune.enabled:
        return config
    folder = layout.study_dir(dataset, model)
    try:
        return config.with_setting(model, best_setting(folder))
    except ConfigError as error:
        raise ConfigError(f"{folder / BEST}: its setting does not fit params ({error}); re-run the study "
                          f"(python -m pipeline tune {dataset} {model})") from error
