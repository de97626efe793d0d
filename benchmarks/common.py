"""What both benchmark scripts share: params.yaml with `-S key=value` overrides, the split,
and a one-line description of the machine (card, versions) for docs/benchmarks.md."""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

import torch
import yaml

from diffurec.config import Config
from diffurec.device import resolve_device
from diffurec.errors import ConfigError
from diffurec.sequences import SequenceData, encode
from pipeline.files.data_tables import read_split


def load_raw(params: Path, overrides: list[str]) -> dict:
    """params.yaml as a dict, with dotted `key=value` overrides (values parsed as YAML), as `dvc exp run -S`."""
    raw = yaml.safe_load(params.read_text()) or {}
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep:
            raise ConfigError(f"override {override!r}: expected key=value, e.g. train.batch_size=512")
        *parents, leaf = key.split(".")
        node = raw
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = yaml.safe_load(value)
    return raw


def load_config(params: Path, overrides: list[str], device: str | None) -> Config:
    """The validated `Config` of params.yaml with overrides, on `device` when given."""
    config = Config.from_dict(load_raw(params, overrides))
    if device is not None:
        config = dataclasses.replace(
            config,
            train=dataclasses.replace(config.train, device=device),
            eval=dataclasses.replace(config.eval, device=device),
        )
        config.validate()
    return config


def load_data(split: Path) -> SequenceData:
    return encode(read_split(Path(split)))


def describe(config: Config) -> str:
    device = resolve_device(config.train.device)
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
    else:
        where = f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} torch threads"
    return f"{where}; torch {torch.__version__}; python {platform.python_version()}"
