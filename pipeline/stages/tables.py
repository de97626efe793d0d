"""Stage `tables`: the Markdown reports (Tables 2-4) and the top-level metrics.json for `dvc metrics`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from diffurec.config import Config
from diffurec.errors import DataError
from diffurec.significance import PaperRowCheck, VariantComparison
from diffurec.tables import metric_names, metrics_summary, render_table2, render_table3, render_table4
from pipeline import layout
from pipeline.app import app
from pipeline.fileio import write_json, write_text
from pipeline.params import DEFAULT_PARAMS, load_config
from pipeline.report_inputs import PAPER_TABLES, load_paper_tables, load_variant_runs, read_json

TABLE2 = "table2_convergence.md"
TABLE3 = "table3_performance.md"
TABLE4 = "table4_ttest.md"


@app.command()
def tables(
    runs: Annotated[Path, typer.Option(help="Runs folder holding train/, eval/ and ensemble/.")] = layout.RUNS,
    ttest_results: Annotated[Path, typer.Option(help="Output of the ttest stage.")] = layout.ttest_file(),
    paper_tables: Annotated[Path, typer.Option(help="The paper's printed numbers.")] = PAPER_TABLES,
    reports: Annotated[Path, typer.Option(help=f"Folder that receives {TABLE2}, {TABLE3}, {TABLE4}.")] = layout.REPORTS,
    metrics_file: Annotated[Path, typer.Option(help="Flat metrics file for dvc metrics show/diff.")] = Path(
        "metrics.json"
    ),
    params: Annotated[Path, typer.Option(help="Parameters file (reads datasets, variants, seeds, eval.ks, eval.ensemble).")]
    = DEFAULT_PARAMS,
) -> None:
    """Render Table 2 (convergence time), Table 3 (performance) and Table 4 (t-tests) and METRICS_FILE.

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
    comparisons, checks = _read_ttest(ttest_results, config, metrics)
    args = (config.datasets, config.variants)
    write_text(reports / TABLE2, render_table2(*args, runs_by_key, paper))
    write_text(reports / TABLE3, render_table3(*args, metrics, runs_by_key, paper, config.eval.ensemble))
    write_text(reports / TABLE4, render_table4(*args, metrics, comparisons, checks))
    write_json(metrics_file, metrics_summary(*args, metrics, runs_by_key, comparisons))


def _read_ttest(
    path: Path, config: Config, metrics: tuple[str, ...]
) -> tuple[dict[tuple[str, str], VariantComparison], list[PaperRowCheck]]:
    raw = read_json(path, "ttest")
    expected = {
        "datasets": list(config.datasets),
        "variants": list(config.variants),
        "seeds": list(config.seeds),
        "metrics": list(metrics),
    }
    found = {key: raw.get(key) for key in expected} if isinstance(raw, dict) else None
    if found != expected:
        raise DataError(
            f"{path}: computed for {found}, params.yaml asks for {expected}; rerun the ttest stage (dvc repro ttest)"
        )
    try:
        comparisons = [VariantComparison.from_dict(c) for c in raw["comparisons"]]
        checks = [PaperRowCheck.from_dict(c) for c in raw["paper_table4"]]
    except (KeyError, TypeError) as error:
        raise DataError(f"{path}: malformed ({error!r}); rerun the ttest stage (dvc repro ttest)") from error
    return {(c.dataset, c.variant): c for c in comparisons}, checks
