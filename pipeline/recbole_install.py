"""The installed recbole package's own files, found without importing recbole: the datasets its
wheel bundles and its download URLs (where each dataset comes from: diffurec.datasets)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

from diffurec.datasets import Dataset
from diffurec.errors import ConfigError


def recbole_dir() -> Path:
    """The installed recbole package folder, found without importing recbole."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or spec.origin is None:
        raise ConfigError("the recbole package is not installed; install the project with its 'pipeline' extra")
    return Path(spec.origin).parent


def recbole_url(key: str) -> str:
    """RecBole's own download URL for a dataset key (properties/dataset/url.yaml)."""
    path = recbole_dir() / "properties" / "dataset" / "url.yaml"
    urls = yaml.safe_load(path.read_text())
    if key not in urls:
        raise ConfigError(f"{path}: no URL for dataset {key!r}; set data.mirror to a copy of RecBole's bucket")
    return urls[key]


def bundled_inter(dataset: Dataset) -> Path:
    """The interaction file of a dataset shipped inside the recbole wheel."""
    return recbole_dir() / "dataset_example" / dataset.key / dataset.inter
