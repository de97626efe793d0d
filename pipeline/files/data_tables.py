"""Reads the Parquet tables the data stages write (preprocessed interactions, the split),
refusing missing or malformed ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow

from diffurec.errors import DataError
from diffurec.preprocess import PREPROCESSED_COLUMNS
from diffurec.split import SPLIT_COLUMNS


def read_preprocessed(path: Path) -> pd.DataFrame:
    """`data/preprocessed/<dataset>.parquet`: one row per interaction, by user then chronologically."""
    return _read(path, PREPROCESSED_COLUMNS, "preprocess")


def read_split(path: Path) -> pd.DataFrame:
    """`data/split/<dataset>.parquet`: one row per user with train (list), valid and test item tokens."""
    return _read(path, SPLIT_COLUMNS, "split")


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
