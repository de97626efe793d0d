"""Reads RecBole atomic `.inter` files and refuses malformed ones with the file, line and fix.

Format: tab-separated, first line a typed header such as
`user_id:token<TAB>item_id:token<TAB>rating:float<TAB>timestamp:float`. Every row is taken as
one implicit interaction; columns other than user, item and timestamp (rating, review, ...) are
ignored.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from diffurec.errors import DataError

REQUIRED = ("user_id", "item_id", "timestamp")
FIELD_TYPES = ("token", "token_seq", "float", "float_seq")
EXAMPLE_HEADER = "user_id:token<TAB>item_id:token<TAB>timestamp:float"


def read_inter(path: Path) -> pd.DataFrame:
    """Columns `user_id` (str), `item_id` (str), `timestamp` (float64), one row per line, in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: not found; run the download stage first (dvc repro download)")
    names = header_names(path)
    try:
        raw = pd.read_csv(
            path,
            sep="\t",
            skiprows=1,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_values=[],
            quoting=csv.QUOTE_NONE,
            skip_blank_lines=False,
            encoding="utf-8",
        )
    except pd.errors.EmptyDataError as error:
        raise DataError(f"{path}: header only, no interactions; re-download the dataset") from error
    except pd.errors.ParserError as error:
        raise DataError(f"{path}: {_describe_parser_error(error)}; fix the file") from error
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error}); fix the file") from error
    if raw.shape[1] != len(names):
        raise DataError(f"{path}: line 2 has {raw.shape[1]} fields but the header names {len(names)}; fix the file")
    raw.columns = names
    # Line numbers in messages count the header as line 1.
    raw.index = raw.index + 2
    columns = raw.loc[:, list(REQUIRED)]
    columns = columns[~columns.isna().all(axis=1)]
    if columns.empty:
        raise DataError(f"{path}: header only, no interactions; re-download the dataset")
    _check_complete(path, columns)
    timestamps = _parse_timestamps(path, columns["timestamp"])
    return columns.assign(timestamp=timestamps).reset_index(drop=True)


def header_names(path: Path, name: str | None = None) -> list[str]:
    """The column names of the typed header, or a DataError if it cannot be an interaction file;
    errors call the file `name` (default: its path)."""
    shown = name or path
    if path.stat().st_size == 0:
        raise DataError(f"{shown}: file is empty; expected a RecBole atomic header such as '{EXAMPLE_HEADER}'")
    with path.open(encoding="utf-8", errors="replace") as file:
        header = file.readline().rstrip("\r\n")
    names = []
    for field in header.split("\t"):
        name, _, kind = field.partition(":")
        if kind not in FIELD_TYPES:
            raise DataError(
                f"{shown}: header field {field!r} is not 'name:type' with type one of {list(FIELD_TYPES)}; "
                f"expected a header such as '{EXAMPLE_HEADER}'"
            )
        names.append(name)
    if len(set(names)) != len(names):
        raise DataError(f"{shown}: header repeats a column name: {names}; fix the file")
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise DataError(
            f"{shown}: no {missing[0]!r} column (header has {names}); "
            f"an interaction file needs {list(REQUIRED)}, e.g. '{EXAMPLE_HEADER}'"
        )
    return names


def _describe_parser_error(error: pd.errors.ParserError) -> str:
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
    if found is None:
        return f"not a tab-separated table ({str(error).strip()})"
    expected, line, seen = found.groups()
    return f"line {line} has {seen} fields but earlier lines have {expected}"


def _check_complete(path: Path, columns: pd.DataFrame) -> None:
    missing = columns.isna() | (columns == "")
    if missing.any(axis=None):
        line = missing.any(axis=1).idxmax()
        column = missing.loc[line].idxmax()
        raise DataError(f"{path}: line {line}: no value for {column!r} (too few fields or an empty one); fix the file")


def _parse_timestamps(path: Path, text: pd.Series) -> np.ndarray:
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        position = int(np.argmax(bad))
        line, value = text.index[position], text.iloc[position]
        raise DataError(f"{path}: line {line}: timestamp {value!r} is not a finite number; fix the file")
    return values
