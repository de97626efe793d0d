"""Loads params.yaml into the typed `Config`; the only place that reads the file."""

from __future__ import annotations

from pathlib import Path

from diffurec.config import Config
from diffurec.errors import ConfigError
from pipeline.files.yaml_file import read_yaml

DEFAULT_PARAMS = Path("params.yaml")


def load_config(path: Path = DEFAULT_PARAMS) -> Config:
    fix = "run from the project root, where params.yaml lives" if path == DEFAULT_PARAMS else "check the --params path"
    raw = read_yaml(path, ConfigError, fix, "fix the file")
    try:
        return Config.from_dict(raw)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
