"""Reads RecBole's interaction files (`.inter`, one of what RecBole calls "atomic files") and
refuses malformed ones with the file, line and fix.

Format: UTF-8 text, tab-separated, first line a typed header such as
`user_id:token<TAB>item_id:token<TAB>rating:float<TAB>timestamp:float`. Line numbers in
messages count the header as line 1.

What a file may carry, and what is refused (one line naming the file, the line and the fix):
- Every row is one implicit interaction. Columns other than user_id, item_id and timestamp
  (rating, label, review, ...) only have to be present: they are not read, so a `label:float`
  does not filter rows (RecBole's default, `threshold: ~`).
- Repeated rows, even a user-item pair repeated with the same timestamp, are kept as separate
  interactions, as RecBole does by default (`rm_dup_inter: ~`); the k-core filter counts each.
- Tokens are taken verbatim: spaces inside or around them, and any Unicode, are part of the
  token, as in RecBole. Text that is not UTF-8 is refused.
- A UTF-8 byte-order mark before the header and CRLF line endings are accepted (what Windows
  editors save); a carriage return on its own is refused, as it is unclear whether it ends a line.
- Blank lines are skipped. Every other row needs exactly as many fields as the header names:
  a short row may be a cut one, a long one a tab inside a value.
- The last line must end with a newline: a file that stops mid-line was most likely cut short
  (an interrupted copy), and a cut timestamp such as `8812` for `881250949` still parses.
- Timestamps only order each user's interactions: negative ones (before 1970) and fractions
  are fine. NaN, infinities, text, and magnitudes of 2**53 or more are refused; past 2**53,
  float64 (what RecBole reads them as too) no longer holds every integer, so distinct times
  could tie and swap places.
- A file with a header and no rows is refused.
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from diffurec.errors import DataError
from diffurec.preprocess import INTERACTION_COLUMNS

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")
EXAMPLE_HEADER = "user_id:token<TAB>item_id:token<TAB>timestamp:float"
# Largest magnitude below which float64 represents every integer.
EXACT_LIMIT = 2.0**53


def read_inter(path: Path) -> pd.DataFrame:
    """Columns `user_id` (str), `item_id` (str), `timestamp` (float64), one row per line, in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: not found; run the download stage first (dvc repro download)")
    data = path.read_bytes()
    _check_utf8(path, data)
    names = header_names(path)
    data = _unix_newlines(path, data.removeprefix(codecs.BOM_UTF8))
    header_end = data.find(b"\n")
    if header_end < 0 or not data[header_end + 1 :].strip(b"\n"):
        raise DataError(f"{path}: line 1: header only, no interactions after it; re-download the dataset")
    if not data.endswith(b"\n"):
        line = data.count(b"\n") + 1
        raise DataError(
            f"{path}: line {line} (the last) does not end with a newline, so the file looks cut short; "
            "re-download or copy it again, or end it with a newline if it is complete"
        )
    lines = _row_lines(path, data, len(names))
    raw = pd.read_csv(
        io.BytesIO(data),
        sep="\t",
        skiprows=1,
        header=None,
        names=names,
        dtype=str,
        # Tokens such as "NA" or "null" are ids, not missing values; quotes are part of a token.
        keep_default_na=False,
        na_values=[],
        quoting=csv.QUOTE_NONE,
        # Only "\n" ends a line (CRs are gone), and blank lines are dropped here as in _row_lines,
        # so row i is line lines[i] and later messages can name it.
        lineterminator="\n",
        skip_blank_lines=True,
        encoding="utf-8",
    )
    columns = raw.loc[:, list(INTERACTION_COLUMNS)].set_axis(lines)
    _check_complete(path, columns)
    timestamps = _parse_timestamps(path, columns["timestamp"])
    return columns.assign(timestamp=timestamps).reset_index(drop=True)


def header_names(path: Path, name: str | None = None) -> list[str]:
    """The column names of the typed header, or a DataError if it cannot be an interaction file;
    errors call the file `name` (default: its path)."""
    shown = name or path
    if path.stat().st_size == 0:
        raise DataError(f"{shown}: file is empty; expected a RecBole atomic header such as '{EXAMPLE_HEADER}'")
    # utf-8-sig drops a byte-order mark, which would otherwise glue itself to the first name.
    with path.open(encoding="utf-8-sig", errors="replace") as file:
        header = file.readline().rstrip("\r\n")
    names = []
    for field in header.split("\t"):
        name, _, kind = field.partition(":")
        if kind not in FIELD_TYPES:
            raise DataError(
                f"{shown}: line 1: header field {field!r} is not 'name:type' with type one of {list(FIELD_TYPES)}; "
                f"expected a header such as '{EXAMPLE_HEADER}'"
            )
        names.append(name)
    if len(set(names)) != len(names):
        raise DataError(f"{shown}: line 1: header repeats a column name: {names}; fix the file")
    missing = [name for name in INTERACTION_COLUMNS if name not in names]
    if missing:
        raise DataError(
            f"{shown}: no {missing[0]!r} column (the header, line 1, has {names}); "
            f"an interaction file needs {list(INTERACTION_COLUMNS)}, e.g. '{EXAMPLE_HEADER}'"
        )
    return names


def _check_utf8(path: Path, data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        byte = data[error.start]
        raise DataError(f"{path}: line {line} is not UTF-8 text (byte 0x{byte:02x}); save the file as UTF-8") from None


def _unix_newlines(path: Path, data: bytes) -> bytes:
    """CRLF line endings as LF; a carriage return anywhere else is refused."""
    if b"\r" not in data:
        return data
    data = data.replace(b"\r\n", b"\n")
    stray = data.find(b"\r")
    if stray >= 0:
        line = data.count(b"\n", 0, stray) + 1
        raise DataError(
            f"{path}: line {line} has a carriage return that does not end the line; "
            "use LF or CRLF line endings and remove carriage returns inside values"
        )
    return data


def _row_lines(path: Path, data: bytes, fields: int) -> np.ndarray:
    """The line number of every non-blank row after the header; a DataError for the first row
    without exactly `fields` fields. `data` ends with a newline."""
    # Counted on the bytes: a UTF-8 multi-byte character never contains a tab or newline byte.
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == ord("\n"))
    tabs = np.flatnonzero(raw == ord("\t"))
    counts = np.diff(np.searchsorted(tabs, ends), prepend=0) + 1
    blank = np.diff(ends, prepend=-1) == 1
    rows = np.flatnonzero(~blank)
    rows = rows[rows > 0]
    wrong = rows[counts[rows] != fields]
    if wrong.size:
        line, seen = int(wrong[0]) + 1, int(counts[wrong[0]])
        hint = "cut short or a value missing" if seen < fields else "a tab inside a value"
        raise DataError(
            f"{path}: line {line} has {seen} fields but the header names {fields} ({hint}); fix the file"
        )
    return rows + 1


def _check_complete(path: Path, columns: pd.DataFrame) -> None:
    missing = columns == ""
    if missing.any(axis=None):
        line = missing.any(axis=1).idxmax()
        column = missing.loc[line].idxmax()
        raise DataError(f"{path}: line {line}: no value for {column!r} (an empty field); fix the file")


def _parse_timestamps(path: Path, text: pd.Series) -> np.ndarray:
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        position = int(np.argmax(bad))
        line, value = text.index[position], text.iloc[position]
        raise DataError(f"{path}: line {line}: timestamp {value!r} is not a finite number; fix the file")
    huge = np.abs(values) >= EXACT_LIMIT
    if huge.any():
        position = int(np.argmax(huge))
        line, value = text.index[position], text.iloc[position]
        raise DataError(
            f"{path}: line {line}: timestamp {value!r} has magnitude 2**53 or more, where float64 times "
            "stop being exact and distinct ones can tie; store them in coarser units (e.g. seconds)"
        )
    return values
