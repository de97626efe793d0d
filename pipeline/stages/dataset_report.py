"""Stage `dataset-report`: users, items, interactions, average length and density per dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from diffurec.report.dataset_stats import dataset_statistics, render_dataset_table
from diffurec.report.provenance import headed, provenance
from pipeline import layout
from pipeline.app import app
from pipeline.files.atomic_write import write_text
from pipeline.files.data_tables import read_split
from pipeline.params import DEFAULT_PARAMS, load_config

PREAMBLE = """# Dataset statistics

After the k-core filter, from the leave-one-out splits (`data/split/<dataset>.parquet`).
Interactions count every row, repeated user-item pairs included; average length =
interactions / users; density = interactions / (users x items).
"""


@app.command("dataset-report")
def dataset_report(
    out: Annotated[Path, typer.Option(help="Markdown file to write.")] = layout.REPORTS / "datasets.md",
    params: Annotated[Path, typer.Option(help="Parameters file (reads datasets).")] = DEFAULT_PARAMS,
) -> None:
    """Tabulate the statistics of every dataset in params.yaml's `datasets` into OUT.

    Reads data/split/DATASET.parquet for each of them, relative to the working directory.
    """
    config = load_config(params)
    statistics = [
        (dataset, dataset_statistics(read_split(layout.split_file(dataset)))) for dataset in config.datasets
    ]
    write_text(out, headed(f"{PREAMBLE}\n{render_dataset_table(statistics)}\n", provenance(config)))
