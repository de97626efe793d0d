"""Stage `tables`: the Markdown reports (Tables 2-4) and the flat metrics summary, which the verdict
stage writes into the top-level metrics.json for `dvc metrics`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from diffurec.datasets import DATASET_NAMES
from diffurec.report.curves import curves_note, learning_curves_figure
from diffurec.report.provenance import headed, provenance
from diffurec.report.tables import metric_names, metrics_summary, render_table2, render_table3, render_table4
from diffurec.variants import VARIANT_NAMES
from pipeline import layout
from pipeline.app import app
from pipeline.files.atomic_write import write_json, write_png, write_text
from pipeline.files.paper_tables import PAPER_TABLES, load_paper_tables
from pipeline.files.run_results import load_variant_runs, read_ttest
from pipeline.files.training_curves import read_baseline_curve, read_curve
from pipeline.params import DEFAULT_PARAMS, load_config

TABLE2 = "table2_convergence.md"
TABLE3 = "table3_performance.md"
TABLE4 = "table4_ttest.md"
# Relative to the reports folder, so that Table 2 links it as it lies beside the report.
CURVES = "figures/learning_curves.png"


@app.command()
def tables(
    runs: Annotated[Path, typer.Option(help="Runs folder holding train/, eval/, ensemble/ and baselines/.")]
    = layout.RUNS,
    ttest_results: Annotated[Path, typer.Option(help="Output of the ttest stage.")] = layout.ttest_file(),
    paper_tables: Annotated[Path, typer.Option(help="The paper's printed numbers.")] = PAPER_TABLES,
    reports: Annotated[
        Path, typer.Option(help=f"Folder that receives {TABLE2}, {TABLE3}, {TABLE4} and {CURVES}.")
    ] = layout.REPORTS,
    metrics_file: Annotated[
        Path, typer.Option(help="Flat metrics summary; the verdict stage adds its block and writes metrics.json.")
    ] = layout.tables_metrics_file(),
    params: Annotated[Path, typer.Option(help="Parameters file (reads datasets, variants, seeds, eval.ks, eval.ensemble).")]
    = DEFAULT_PARAMS,
) -> None:
    """Render Table 2 (convergence time), Table 3 (performance) and Table 4 (t-tests) and METRICS_FILE,
    and the learning curves of every training run, ours and the re-run baselines'
    (figures/learning_curves.png, linked from Table 2).

    Rows follow `datasets`, `variants` and `seeds` in params.yaml exactly; the paper's values
    stand beside ours on the paper's datasets.
    """
    config = load_config(params)
    metrics = metric_names(config.eval.ks)
    paper = load_paper_tables(paper_tables)
    runs_by_key = {
        (dataset, variant): load_variant_runs(runs, dataset, variant, config.seeds, metrics)
        for dataset in config.datasets
        for variant in config.variants
    }
    comparisons, checks = read_ttest(ttest_results, config, metrics)
    args = (config.datasets, config.variants)
    curves = {
        (dataset, variant): [read_curve(runs, dataset, variant, seed) for seed in config.seeds]
        for dataset, variant in runs_by_key
    }
    # The re-run baselines beside them: one run each, RecBole's seed.
    curves |= {
        (dataset, name): [read_baseline_curve(runs, dataset, name, config.recbole.seed)]
        for dataset in config.datasets
        for name in config.baselines
    }
    figure = learning_curves_figure(
        curves,
        {dataset: DATASET_NAMES[dataset] for dataset in config.datasets},
        {**{variant: VARIANT_NAMES[variant] for variant in config.variants}, **{name: name for name in config.baselines}},
    )
    write_png(reports / CURVES, figure)
    line = provenance(config)
    write_text(reports / TABLE2, headed(render_table2(*args, runs_by_key, paper) + curves_note(CURVES), line))
    write_text(reports / TABLE3, headed(render_table3(*args, metrics, runs_by_key, paper, config.eval.ensemble), line))
    write_text(reports / TABLE4, headed(render_table4(*args, metrics, comparisons, checks), line))
    write_json(metrics_file, metrics_summary(*args, metrics, runs_by_key, comparisons))
