"""Stage `cost`: the machine and the measured seconds of every stage of this run (reports/cost.md,
reports/cost.tsv for `dvc plots`). Runs last: it reads the records the other stages left behind."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from diffurec.report.cost import in_run, plot_table, render_cost
from diffurec.report.provenance import headed, provenance
from pipeline import layout, machine
from pipeline.app import app
from pipeline.files.atomic_write import write_text
from pipeline.files.cost_records import read_records
from pipeline.params import DEFAULT_PARAMS, load_config

REPORT = "cost.md"
PLOT = "cost.tsv"


@app.command()
def cost(
    runs: Annotated[Path, typer.Option(help="Runs folder holding the stages' records (cost/).")] = layout.RUNS,
    reports: Annotated[Path, typer.Option(help=f"Folder that receives {REPORT} and {PLOT}.")] = layout.REPORTS,
    params: Annotated[Path, typer.Option(help="Parameters file (reads datasets, variants, seeds, baselines).")] = DEFAULT_PARAMS,
) -> None:
    """Describe this machine and tabulate the seconds of every stage DVC ran on it.

    Each stage DVC starts leaves a record in RUNS/cost/ (its seconds, CPU seconds, peak memory,
    processor, vector level, whether the CPU pins were in force). Records of stages that params.yaml
    no longer asks for (another dataset, variant, seed or baseline) are left out, and so is this stage's own.
    """
    config = load_config(params)
    values = {*config.datasets, *config.variants, *(str(seed) for seed in config.seeds), *config.baselines}
    # This stage's own record ("cost") is written after the page, so it would always be the previous run's.
    costs = [record for record in read_records(runs) if record.stage != "cost" and in_run(record.stage, values)]
    write_text(reports / REPORT, headed(render_cost(machine.describe(), costs), provenance(config)))
    write_text(reports / PLOT, plot_table(costs))
