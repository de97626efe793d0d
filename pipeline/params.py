"""Loads params.yaml into the typed `Config`; the only place that reads the file."""

from __future__ import annotations

from pathlib import Path

import yaml

from diffurec.config import Config
from diffurec.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")


def load_config(path: Path = DEFAULT_PARAMS) -> Config:
    if not path.is_file():
        fix = "run from the project root, where params.yaml lives" if path == DEFAULT_PARAMS else "check the --params path"
        raise ConfigError(f"{path}: not found; {fix}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error}); fix the file") from error
    try:
        return Config.from_dict(raw)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
