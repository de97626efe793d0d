"""Stage `preprocess DATASET`: k-core filtered, chronologically ordered, integer-coded interactions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from diffurec.datasets import find_dataset
from diffurec.errors import DataError
from diffurec.preprocess import preprocess as preprocess_interactions
from pipeline import layout
from pipeline.app import app
from pipeline.arguments import DatasetKey
from pipeline.files.atomic_write import write_with
from pipeline.files.recbole_inter import read_inter
from pipeline.params import DEFAULT_PARAMS, load_config


@app.command()
def preprocess(
    dataset: DatasetKey,
    raw: Annotated[Path | None, typer.Option(help="Downloaded folder. Default: data/raw/DATASET.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Parquet file to write. Default: data/preprocessed/DATASET.parquet.")
    ] = None,
    params: Annotated[
        Path, typer.Option(help="Parameters file (reads data.min_user_inter, data.min_item_inter, data.filters).")
    ] = DEFAULT_PARAMS,
) -> None:
    """Filter RAW/DATASET.inter to its k-core, order it and number its ids, into OUT.

    Columns: user_id, item_id (original tokens), timestamp, user (1..U), item (1..I); rows by
    user, then by timestamp with ties in file order.
    """
    find_dataset(dataset)
    config = load_config(params)
    path = (raw or layout.raw_dir(dataset)) / f"{dataset}.inter"
    interactions = read_inter(path)
    min_user, min_item = config.data.thresholds(dataset)
    result = preprocess_interactions(interactions, min_user, min_item)
    if result.empty:
        keys = ", ".join(f"{key} = {value}" for key, value in config.data.threshold_settings(dataset))
        raise DataError(f"{path}: no interaction survives the k-core filter ({keys}); lower them in params.yaml")
    write_with(out or layout.preprocessed_file(dataset), lambda tmp: result.to_parquet(tmp, index=False))
