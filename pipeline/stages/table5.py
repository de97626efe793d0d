"""Stage `table5`: the paper's Table 5, our variants and control beside re-run and reported baselines."""

from __future__ import annotations

from pathlib import Path
from statistics import fmean
from typing import Annotated

import numpy as np
import typer

from diffurec.config import Config
from diffurec.datasets import DATASET_NAMES
from diffurec.errors import DataError
from diffurec.report.comparison import (
    DatasetTable,
    Method,
    UserTest,
    our_source,
    render_table5,
    reported_rows,
    user_test,
    user_test_pair,
)
from diffurec.report.provenance import headed, provenance
from diffurec.report.significance import PER_USER_K
from diffurec.report.tables import metric_names
from diffurec.variants import VARIANT_NAMES
from pipeline import layout
from pipeline.app import app
from pipeline.files.atomic_write import write_text
from pipeline.files.paper_tables import PAPER_TABLES, load_paper_tables
from pipeline.files.run_results import read_baseline, read_ranks, seed_metrics
from pipeline.params import DEFAULT_PARAMS, load_config

TABLE5 = "table5_comparison.md"


@app.command()
def table5(
    runs: Annotated[Path, typer.Option(help="Runs folder holding eval/ and baselines/.")] = layout.RUNS,
    paper_tables: Annotated[Path, typer.Option(help="The paper's printed numbers (table5_reported).")] = PAPER_TABLES,
    out: Annotated[Path, typer.Option(help="Markdown file to write.")] = layout.REPORTS / TABLE5,
    params: Annotated[
        Path, typer.Option(help="Parameters file (reads datasets, variants, seeds, baselines, recbole, eval.ks).")
    ] = DEFAULT_PARAMS,
) -> None:
    """Render Table 5: per dataset, our variants and control (mean over seeds), the re-run baselines
    and the paper's reported numbers for methods not re-run, best and second best marked, the
    improvement of our best diffusion model over the best converged baseline and over the control,
    and a paired per-user test of our best against the strongest converged re-run baseline.
    """
    config = load_config(params)
    metrics = metric_names(config.eval.ks)
    reported = {
        dataset: {method: {m: v for m, v in values.items() if m in metrics} for method, values in rows.items()}
        for dataset, rows in load_paper_tables(paper_tables).reported.items()
    }
    tables, baseline_runs = [], []
    for dataset in config.datasets:
        measured = {name: read_baseline(runs, dataset, name, metrics) for name in config.baselines}
        baseline_runs.extend(run for run, _ in measured.values())
        methods = (
            _our_rows(runs, dataset, config, metrics)
            + [Method(name, "re-run", values, True, run.converged) for name, (run, values) in measured.items()]
            + reported_rows(reported.get(dataset, {}), {config.recbole.models[name].model for name in config.baselines})
        )
        tables.append(DatasetTable(dataset, tuple(methods), _user_test(runs, dataset, config, methods, metrics)))
    notes = [
        f"Seeds: {', '.join(map(str, config.seeds))}; baselines trained once with seed {config.recbole.seed}.",
        "Re-run baselines train for at most Max epochs (params.yaml, recbole.models) with early stopping on "
        "validation NDCG@10 once more than Early stop validations in a row (RecBole's stopping_step) bring no "
        "better one; Converged in the settings table says whether that, and not Max epochs, ended the training.",
    ]
    unreported = [DATASET_NAMES[d] for d in config.datasets if d not in reported]
    if unreported:
        notes.append(f"The paper reports no other methods on {', '.join(unreported)}: only this project's runs and "
                     "the re-run baselines are listed there.")
    write_text(out, headed(render_table5(tables, metrics, baseline_runs, notes), provenance(config)))


def _our_rows(runs: Path, dataset: str, config: Config, metrics: tuple[str, ...]) -> list[Method]:
    rows = []
    for variant in config.variants:
        per_seed = seed_metrics(runs, dataset, variant, config.seeds, metrics)
        # The control is neither one of "ours" (the diffusion models) nor a baseline: its own row.
        rows.append(Method(VARIANT_NAMES[variant], our_source(variant), {m: fmean(per_seed[m]) for m in metrics}, False))
    return rows


def _user_test(
    runs: Path, dataset: str, config: Config, methods: list[Method], metrics: tuple[str, ...]
) -> UserTest | None:
    """Our best diffusion model against the strongest converged re-run baseline, by NDCG@10, on
    per-user NDCG@10; None when either is missing."""
    pair = user_test_pair(methods) if f"NDCG@{PER_USER_K}" in metrics else None
    if pair is None:
        return None
    best, rival = pair
    variant = next(v for v in config.variants if VARIANT_NAMES[v] == best.name)
    per_seed = [read_ranks(layout.eval_dir(dataset, variant, seed, runs) / "ranks.parquet") for seed in config.seeds]
    path = layout.baseline_dir(dataset, rival.name, runs) / "ranks.parquet"
    baseline = read_ranks(path, "baselines")
    for ranks in per_seed:
        if not ranks.index.equals(baseline.index):
            raise DataError(
                f"{path}: ranks other test users than {variant}'s runs on {dataset}; "
                "rerun both stages (dvc repro)"
            )
    stacked = np.stack([ranks.to_numpy() for ranks in per_seed])
    return user_test(best.name, stacked, rival.name, baseline.to_numpy())
