"""Loads params.yaml into the typed `Config`; the only place that reads the file."""

from __future__ import annotations

from pathlib import Path

import yaml

from diffurec.config import Config
from diffurec.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")


def load_config(path: Path = DEFAULT_PARAMS) -> Config:
    if not path.is_file():
        raise ConfigError(f"{path}: not found; run from the project root or pass --params")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error}); fix the file") from error
    try:
        return Config.from_dict(raw)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
