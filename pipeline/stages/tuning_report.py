"""Stage `tuning-report`: reports/tuning.md from the committed studies (studies/DATASET/MODEL)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from diffurec.report.provenance import headed, provenance
from diffurec.report.tuning import render_tuning
from pipeline import layout
from pipeline.app import app
from pipeline.files.atomic_write import write_text
from pipeline.files.studies import BEST, read_outcome
from pipeline.params import DEFAULT_PARAMS, load_config

REPORT = layout.REPORTS / "tuning.md"


@app.command("tuning-report")
def tuning_report(
    out: Annotated[Path, typer.Option(help="Markdown file to write.")] = REPORT,
    params: Annotated[Path, typer.Option(help="Parameters file.")] = DEFAULT_PARAMS,
) -> None:
    """Tabulate each study: the budget it spent, its default and tuned validation NDCG@10, and the
    two settings; a model of the run without a study is listed with the command that runs it."""
    config = load_config(params)
    outcomes = {
        (dataset, model): read_outcome(layout.study_dir(dataset, model))
        for dataset in config.datasets
        for model in config.models()
        if (layout.study_dir(dataset, model) / BEST).is_file()
    }
    page = render_tuning(config.datasets, config.models(), outcomes, config.tune)
    write_text(out, headed(page, provenance(config)))
