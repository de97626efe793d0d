"""Stage `verdict`: does the paper hold on this run? reports/verdict.md, and metrics.json = the tables
stage's summary plus a `verdict` block (claim row -> status, effect, interval, p, adjusted p, family)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from diffurec.errors import DataError
from diffurec.report.evidence import PAPER
from diffurec.report.forest import forest_figure
from diffurec.report.provenance import provenance
from diffurec.report.significance import PAPER_HALF_UNIT, check_paper_table4
from diffurec.report.summary import render_summary
from diffurec.report.verdict import judge
from diffurec.report.verdict_page import metrics_block, render_verdict
from diffurec.variants import BASELINE
from pipeline import layout
from pipeline.app import app
from pipeline.files.atomic_write import write_json, write_png, write_text
from pipeline.files.paper_tables import PAPER_TABLES, load_paper_tables
from pipeline.files.run_results import read_json
from pipeline.files.verdict_evidence import read_evidence
from pipeline.params import DEFAULT_PARAMS, load_config

VERDICT = layout.REPORTS / "verdict.md"
SUMMARY = layout.REPORTS / "summary.md"
FOREST = layout.FIGURES / "verdict.png"


@app.command()
def verdict(
    runs: Annotated[Path, typer.Option(help="Runs folder: train/, eval/, ensemble/, baselines/, ablation/.")]
    = layout.RUNS,
    data: Annotated[Path, typer.Option(help="Data folder holding split/ (the head items).")] = layout.DATA,
    paper_tables: Annotated[Path, typer.Option(help="The paper's printed numbers.")] = PAPER_TABLES,
    tables_metrics: Annotated[Path, typer.Option(help="The tables stage's flat summary.")]
    = layout.tables_metrics_file(),
    out: Annotated[Path, typer.Option(help="Markdown file to write.")] = VERDICT,
    summary_out: Annotated[Path, typer.Option(help="The one-page summary to write.")] = SUMMARY,
    figure: Annotated[Path, typer.Option(help="The verdict's forest plot to write.")] = FOREST,
    metrics_file: Annotated[Path, typer.Option(help="metrics.json for dvc metrics show/diff.")] = layout.METRICS,
    params: Annotated[Path, typer.Option(help="Parameters file.")] = DEFAULT_PARAMS,
) -> None:
    """Test each of the paper's claims on every dataset of the run, from what the other stages wrote;
    trains nothing. Writes the verdict page, the one-page summary (the run's scale and its answer) and
    the forest plot of every comparison. A part that cannot be read (a stage not run, a stale file) makes the claims that
    need it 'not testable here' with the reader's message as the reason: the page is written anyway.

    Reads datasets, variants, seeds, baselines, analysis.head_fraction, ablation, eval.ensemble, verdict and the
    model, train and data params that section 6.2 of the paper sets.
    """
    config = load_config(params)
    unreadable = {}
    try:
        paper = load_paper_tables(paper_tables)
    except DataError as error:
        paper, unreadable[PAPER,] = None, str(error)
    evidence = [read_evidence(runs, data, config, dataset, unreadable) for dataset in config.datasets]
    result = judge(evidence, paper, config.verdict)
    notes = [
        f"This run: models {', '.join(config.variants)}; re-run baselines {', '.join(config.baselines)} (params.yaml).",
        f"metrics.json: the tables stage's summary ({tables_metrics}) and this page's `verdict` block: per row its "
        "status and its headline comparison's effect, interval (at its family's level), p, adjusted p and family size.",
    ]
    try:
        summary = read_json(tables_metrics, "tables")
        if not isinstance(summary, dict):
            raise DataError(f"{tables_metrics}: expected a JSON object; rerun the tables stage (dvc repro tables)")
    except DataError as error:
        summary = {}
        notes.append(f"metrics.json holds the verdict block alone: {error}")
    line = provenance(config)
    checks = [] if paper is None else check_paper_table4(paper.means, paper.printed_table4, PAPER_HALF_UNIT, BASELINE)
    printed = {} if paper is None else paper.reported
    write_text(out, render_verdict(result, evidence, notes, provenance=line))
    write_text(summary_out, render_summary(result, evidence, line, checks, printed))
    write_png(figure, forest_figure(result))
    write_json(metrics_file, {**summary, "verdict": metrics_block(result)})
