"""Where each dataset key comes from: RecBole's bundled example or an archive in RecBole's bucket."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import yaml

from diffurec.errors import ConfigError


@dataclass(frozen=True)
class DatasetSource:
    key: str
    # Path of the zip inside RecBole's bucket (and any mirror of it); None = bundled with recbole.
    archive: str | None
    # Name of the atomic interaction file inside the archive or the bundled example folder.
    inter: str


SOURCES = {
    source.key: source
    for source in (
        DatasetSource("ml-100k", None, "ml-100k.inter"),
        DatasetSource("amazon-beauty", "Amazon_ratings/Amazon_Beauty.zip", "Amazon_Beauty.inter"),
        DatasetSource("amazon-toys-games", "Amazon_ratings/Amazon_Toys_and_Games.zip", "Amazon_Toys_and_Games.inter"),
        DatasetSource("ml-1m", "MovieLens/ml-1m.zip", "ml-1m.inter"),
    )
}


def dataset_source(key: str) -> DatasetSource:
    """The source of a dataset key given on the command line; unknown keys are refused."""
    if key not in SOURCES:
        raise ConfigError(f"unknown dataset {key!r}; known datasets: {list(SOURCES)}")
    return SOURCES[key]


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


def bundled_inter(source: DatasetSource) -> Path:
    """The interaction file of a dataset shipped inside the recbole wheel."""
    return recbole_dir() / "dataset_example" / source.key / source.inter
