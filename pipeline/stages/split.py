"""Stage `split DATASET`: the leave-one-out split, one row per user, in original tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from diffurec.datasets import find_dataset
from diffurec.errors import DataError
from diffurec.split import leave_one_out
from pipeline import layout
from pipeline.app import app
from pipeline.arguments import DatasetKey
from pipeline.files.atomic_write import write_with
from pipeline.files.data_tables import read_preprocessed


@app.command()
def split(
    dataset: DatasetKey,
    preprocessed: Annotated[
        Path | None, typer.Option(help="Preprocessed table. Default: data/preprocessed/DATASET.parquet.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Parquet file to write. Default: data/split/DATASET.parquet.")
    ] = None,
) -> None:
    """Split the PREPROCESSED table of DATASET leave-one-out into OUT.

    Per user (rows in user-number order): train = all but the last two items, oldest first;
    valid = the second to last; test = the last. Columns user_id, train, valid, test hold
    original tokens.
    """
    find_dataset(dataset)
    path = preprocessed or layout.preprocessed_file(dataset)
    interactions = read_preprocessed(path)
    try:
        result = leave_one_out(interactions)
    except DataError as error:
        raise DataError(f"{path}: {error}") from error
    write_with(out or layout.split_file(dataset), lambda tmp: result.to_parquet(tmp, index=False))
