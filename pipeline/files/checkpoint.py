"""Model checkpoints and resume states on disk: always written atomically, read back validated."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from diffurec.config import Config
from diffurec.errors import DataError
from diffurec.model import ItemScorer, new_model
from diffurec.train import TrainState
from pipeline import layout
from pipeline.files.atomic_write import atomic_path

# What torch.load and the unpacking after it raise on a truncated, garbled or foreign file.
UNREADABLE = (pickle.UnpicklingError, RuntimeError, OSError, EOFError, KeyError, TypeError, ValueError, AttributeError)


def save_model(path: Path, model: ItemScorer, items: list[str]) -> None:
    """The trained weights with everything needed to rebuild the network without params.yaml."""
    payload = {
        "variant": model.variant,
        "n_items": model.n_items,
        "model_config": dataclasses.asdict(model.config),
        "items": items,
        "state_dict": model.state_dict(),
    }
    _save(path, payload)


def load_model(path: Path, device: torch.device) -> tuple[ItemScorer, list[str]]:
    """The network saved by `save_model`, on `device`, and its item vocabulary."""
    if not path.is_file():
        raise DataError(f"{path}: no trained model; run `dvc repro` for its train stage first")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
        config = Config.from_dict({"model": payload["model_config"]}).model
        model = new_model(payload["n_items"], config, payload["variant"])
        model.load_state_dict(payload["state_dict"])
    except UNREADABLE as error:
        raise DataError(
            f"{path}: not a readable model checkpoint ({_reason(error)}); delete it and rerun its train stage"
        ) from error
    return model.to(device), payload["items"]


def load_run_models(
    dataset: str, variant: str, seeds: Sequence[int], items: list[str], device: torch.device
) -> dict[int, ItemScorer]:
    """seed -> the trained model of that seed's run, refused if it was trained on another version
    of the split (another item vocabulary than `items`)."""
    models = {}
    for seed in seeds:
        path = layout.train_dir(dataset, variant, seed) / "model.pt"
        model, trained_items = load_model(path, device)
        if trained_items != items:
            raise DataError(f"{path}: trained on another version of the {dataset} split; rerun `dvc repro` to retrain it")
        models[seed] = model
    return models


def _reason(error: Exception) -> str:
    """One short line: torch's unpickling errors run to a page of advice that does not apply."""
    if isinstance(error, pickle.UnpicklingError):
        return "garbled, or not a file torch.save wrote"
    line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return line if len(line) <= 120 else line[:117] + "..."


def fingerprint(config: Config, dataset: str, variant: str, seed: int, split: Path) -> str:
    """Identifies a training run: a resume state is only taken up by the very same run."""
    parts = {
        "model": dataclasses.asdict(config.model),
        "train": dataclasses.asdict(config.train),
        "eval": dataclasses.asdict(config.eval),
        "run": [dataset, variant, seed],
        "split": hashlib.sha256(split.read_bytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def save_resume(path: Path, state: TrainState, run_fingerprint: str) -> None:
    _save(path, {"fingerprint": run_fingerprint, "state": state.as_dict()})


def _save(path: Path, payload: dict[str, Any]) -> None:
    """Atomically, through a file handle: given a path, torch.save names the archive's records
    after the (random) temporary file, and the same weights would not give the same bytes."""
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        torch.save(payload, handle)


def load_resume(path: Path, run_fingerprint: str) -> TrainState | None:
    """The saved state of this exact run, or None (absent, unreadable, or from another config)."""
    if not path.is_file():
        return None
    try:
        # Our own file; it holds Python and NumPy RNG states that weights_only cannot load.
        payload: dict[str, Any] = torch.load(path, weights_only=False)
        if payload.get("fingerprint") != run_fingerprint:
            return None
        return TrainState.from_dict(payload["state"])
    except UNREADABLE:
        return None


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())
