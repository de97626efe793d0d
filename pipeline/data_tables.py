"""Reads the Parquet tables the data stages write, and the published DiffuRec splits, refusing
missing or malformed ones."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow

from diffurec.errors import DataError
from diffurec.published import PUBLISHED_KEYS

PREPROCESSED_COLUMNS = ("user_id", "item_id", "timestamp", "user", "item")
SPLIT_COLUMNS = ("user_id", "train", "valid", "test")


def read_preprocessed(path: Path) -> pd.DataFrame:
    """`data/preprocessed/<dataset>.parquet`: one row per interaction, by user then chronologically."""
    return _read(path, PREPROCESSED_COLUMNS, "preprocess")


def read_split(path: Path) -> pd.DataFrame:
    """`data/split/<dataset>.parquet`: one row per user with train (list), valid and test item tokens."""
    return _read(path, SPLIT_COLUMNS, "split")


def read_published(path: Path) -> dict[str, Any]:
    """A published DiffuRec split, `dataset.pkl`: a dict of five dicts, train, val, test (user id ->
    item ids) and umap, smap (original token -> id); diffurec/published.py compares it with ours.

    Unpickling can run code: read only the authors' files (../shared/anchors holds them).
    """
    if not path.is_file():
        raise DataError(f"{path}: not found; pass the dataset.pkl of the DiffuRec authors' datasets/data/<name>/")
    # A damaged or foreign file fails in any of these ways, depending on where its bytes stop making sense.
    try:
        with path.open("rb") as file:
            published = pickle.load(file)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            ImportError) as error:
        raise DataError(f"{path}: not a readable pickle ({error}); pass the authors' dataset.pkl") from error
    if not isinstance(published, dict) or any(not isinstance(published.get(key), dict) for key in PUBLISHED_KEYS):
        found = list(published) if isinstance(published, dict) else type(published).__name__
        raise DataError(
            f"{path}: expected a dict of dicts {list(PUBLISHED_KEYS)}, found {found}; pass the authors' dataset.pkl"
        )
    return published


def _read(path: Path, columns: tuple[str, ...], stage: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: not found; run the {stage} stage first (dvc repro {stage})")
    try:
        frame = pd.read_parquet(path)
    except (OSError, pyarrow.ArrowException) as error:
        raise DataError(f"{path}: not a readable Parquet file ({error}); rerun the {stage} stage") from error
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; rerun the {stage} stage")
    return frame
