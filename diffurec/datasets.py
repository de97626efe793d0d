"""The datasets this project can run: each key, the name the reports print and where RecBole
publishes it. The one list of them: params validation, the download stage and the reports all
read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffurec.errors import ConfigError


@dataclass(frozen=True)
class Dataset:
    key: str
    # As the reports print it.
    name: str
    # Path of the zip inside RecBole's bucket (and any mirror of it); None = bundled with recbole.
    archive: str | None
    # Name of the atomic interaction file inside the archive or the bundled example folder.
    inter: str


CATALOGUE = (
    Dataset("ml-100k", "MovieLens-100K", None, "ml-100k.inter"),
    Dataset("amazon-beauty", "Amazon Beauty", "Amazon_ratings/Amazon_Beauty.zip", "Amazon_Beauty.inter"),
    Dataset(
        "amazon-toys-games",
        "Amazon Toys & Games",
        "Amazon_ratings/Amazon_Toys_and_Games.zip",
        "Amazon_Toys_and_Games.inter",
    ),
    Dataset("ml-1m", "MovieLens-1M", "MovieLens/ml-1m.zip", "ml-1m.inter"),
)
BY_KEY = {dataset.key: dataset for dataset in CATALOGUE}
DATASETS = tuple(BY_KEY)
DATASET_NAMES = {key: dataset.name for key, dataset in BY_KEY.items()}


def find_dataset(key: str) -> Dataset:
    """The dataset of a key given on the command line; unknown keys are refused."""
    if key not in BY_KEY:
        raise ConfigError(f"unknown dataset {key!r}; known datasets: {list(DATASETS)}")
    return BY_KEY[key]
