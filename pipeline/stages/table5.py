"""Stage `table5`: the paper's Table 5, our variants beside re-run and reported baselines."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import fmean
from typing import Annotated, Any

import numpy as np
import typer
import yaml

from diffurec.comparison import BaselineRun, DatasetTable, Method, UserTest, render_table5, strongest, user_test
from diffurec.config import Config
from diffurec.errors import DataError
from diffurec.significance import PER_USER_K
from diffurec.tables import DATASET_NAMES, VARIANT_NAMES, metric_names
from pipeline import layout
from pipeline.app import app
from pipeline.fileio import write_text
from pipeline.params import DEFAULT_PARAMS, load_config
from pipeline.report_inputs import PAPER_TABLES, read_json, read_ranks, seed_metrics

TABLE5 = "table5_comparison.md"
# The paper's own model in its Table 5: shown as reported, never counted as a baseline.
PAPER_MODEL = "DiffuRecSys"


@app.command()
def table5(
    runs: Annotated[Path, typer.Option(help="Runs folder holding eval/ and baselines/.")] = layout.RUNS,
    paper_tables: Annotated[Path, typer.Option(help="The paper's printed numbers (table5_reported).")] = PAPER_TABLES,
    out: Annotated[Path, typer.Option(help="Markdown file to write.")] = layout.REPORTS / TABLE5,
    params: Annotated[
        Path, typer.Option(help="Parameters file (reads datasets, variants, seeds, baselines, recbole, eval.ks).")
    ] = DEFAULT_PARAMS,
) -> None:
    """Render Table 5: per dataset, our variants (mean over seeds), the re-run baselines and the
    paper's reported numbers for methods not re-run, best and second best marked, the improvement
    of our best variant over the best baseline, and a paired per-user test of the two.
    """
    config = load_config(params)
    metrics = metric_names(config.eval.ks)
    reported = _load_reported(paper_tables, metrics)
    tables, baseline_runs = [], []
    for dataset in config.datasets:
        measured = {name: _read_baseline(runs, dataset, name, metrics) for name in config.baselines}
        baseline_runs.extend(run for run, _ in measured.values())
        methods = (
            _our_rows(runs, dataset, config, metrics)
            + [Method(name, "re-run", values, True) for name, (_, values) in measured.items()]
            + _reported_rows(reported, dataset, config)
        )
        tables.append(DatasetTable(dataset, tuple(methods), _user_test(runs, dataset, config, methods, metrics)))
    notes = [
        f"Seeds: {', '.join(map(str, config.seeds))}; baselines trained once with seed {config.recbole.seed}.",
        "Re-run baselines train for at most Max epochs (params.yaml, recbole.models) with early stopping on "
        "validation NDCG@10; a profile with only a few epochs (the default CPU one) leaves them far from converged.",
    ]
    unreported = [DATASET_NAMES[d] for d in config.datasets if d not in reported]
    if unreported:
        notes.append(f"The paper reports no other methods on {', '.join(unreported)}: only this project's runs and "
                     "the re-run baselines are listed there.")
    write_text(out, render_table5(tables, metrics, baseline_runs, notes))


def _our_rows(runs: Path, dataset: str, config: Config, metrics: tuple[str, ...]) -> list[Method]:
    rows = []
    for variant in config.variants:
        per_seed = seed_metrics(runs, dataset, variant, config.seeds, metrics)
        rows.append(Method(VARIANT_NAMES[variant], "ours", {m: fmean(per_seed[m]) for m in metrics}, False))
    return rows


def _reported_rows(reported: dict[str, dict[str, dict[str, float]]], dataset: str, config: Config) -> list[Method]:
    """The paper's numbers on `dataset` for every method no configured baseline re-runs (none on a
    dataset the paper did not use, e.g. ml-100k)."""
    rerun = {config.recbole.models[name].model for name in config.baselines}
    return [
        Method(method, "reported", values, method != PAPER_MODEL)
        for method, values in reported.get(dataset, {}).items()
        if method not in rerun
    ]


def _user_test(
    runs: Path, dataset: str, config: Config, methods: list[Method], metrics: tuple[str, ...]
) -> UserTest | None:
    """Our best variant against the strongest re-run baseline, by NDCG@10, on per-user NDCG@10."""
    metric = f"NDCG@{PER_USER_K}"
    if metric not in metrics:
        return None
    best = strongest([m for m in methods if m.source == "ours"], metric)
    rival = strongest([m for m in methods if m.source == "re-run"], metric)
    if best is None or rival is None:
        return None
    variant = next(v for v in config.variants if VARIANT_NAMES[v] == best.name)
    per_seed = [read_ranks(layout.eval_dir(dataset, variant, seed, runs) / "ranks.parquet") for seed in config.seeds]
    path = layout.baseline_dir(dataset, rival.name, runs) / "ranks.parquet"
    baseline = read_ranks(_existing(path), "baselines")
    for ranks in per_seed:
        if not ranks.index.equals(baseline.index):
            raise DataError(
                f"{path}: ranks other test users than {variant}'s runs on {dataset}; "
                "rerun both stages (dvc repro)"
            )
    stacked = np.stack([ranks.to_numpy() for ranks in per_seed])
    return user_test(best.name, stacked, rival.name, baseline.to_numpy())


def _read_baseline(runs: Path, dataset: str, name: str, metrics: tuple[str, ...]) -> tuple[BaselineRun, dict[str, float]]:
    path = layout.baseline_dir(dataset, name, runs) / "metrics.json"
    raw = read_json(path, "baselines")
    try:
        values = {metric: float(raw[metric]) for metric in metrics}
        run = BaselineRun(dataset, name, dict(raw["settings"]), float(raw["train_seconds"]))
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"{path}: malformed ({error!r}); rerun the baselines stage (dvc repro baselines)") from error
    if not all(math.isfinite(v) for v in values.values()):
        raise DataError(f"{path}: a metric is not a finite number; rerun the baselines stage (dvc repro baselines)")
    return run, values


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise DataError(f"{path}: not found; run the baselines stage first (dvc repro baselines)")
    return path


def _load_reported(path: Path, metrics: tuple[str, ...]) -> dict[str, dict[str, dict[str, float]]]:
    """dataset -> method -> metric -> value from the `table5_reported` section of the paper's numbers."""
    if not path.is_file():
        raise DataError(f"{path}: not found; restore it from git (git checkout -- {path})")
    try:
        raw: Any = yaml.safe_load(path.read_text())
        names = [str(m) for m in raw["metrics"]]
        table = {
            dataset: {method: dict(zip(names, map(float, values), strict=True)) for method, values in rows.items()}
            for dataset, rows in raw["table5_reported"].items()
        }
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise DataError(f"{path}: no readable table5_reported section ({error!r}); restore it from git") from error
    return {
        dataset: {method: {m: v for m, v in values.items() if m in metrics} for method, values in rows.items()}
        for dataset, rows in table.items()
    }
