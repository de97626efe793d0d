"""Stages `case-study` (paper section 6.5, RQ3) and `tsne DATASET VARIANT` (Figures 3-6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from matplotlib.figure import Figure
from tqdm import tqdm

from diffurec.case_study import (
    DatasetCase,
    VariantRanks,
    bar_panels,
    dataset_groups,
    ensemble_gains,
    figure_metric,
    render_case_study,
)
from diffurec.config import Config
from diffurec.device import resolve_device
from diffurec.errors import ConfigError, DataError
from diffurec.figures import group_bars_figure, sample_users, tsne_figure, tsne_points
from diffurec.inference import reconstruct_users
from diffurec.sequences import SequenceData, encode, evaluation_windows
from diffurec.tables import DATASET_NAMES, VARIANT_NAMES
from pipeline import layout
from pipeline.app import app
from pipeline.data_tables import read_split
from pipeline.datasets import dataset_source
from pipeline.fileio import write_text, write_with
from pipeline.params import load_config
from pipeline.report_inputs import read_ranks
from pipeline.stages.evaluate import load_members
from pipeline.stages.train import check_variant

CASE_STUDY = layout.REPORTS / "case_study.md"
FIGURES = layout.REPORTS / "figures"
GROUPS_FIGURE = FIGURES / "case_study_groups.png"
ENSEMBLE_FIGURE = FIGURES / "case_study_ensemble.png"


def tsne_figure_file(dataset: str, variant: str) -> Path:
    return FIGURES / f"tsne_{dataset}_{variant}.png"


def tsne_table_file(dataset: str, variant: str) -> Path:
    return layout.RUNS / "analysis" / dataset / variant / "tsne.csv"


def save_png(path: Path, figure: Figure) -> None:
    """No Software/date metadata in the PNG, so the same figure writes the same bytes."""
    write_with(path, lambda tmp: figure.savefig(tmp, format="png", metadata={"Software": None}))


def _ranks_in_split_order(path: Path, users: list[str], stage: str = "evaluate") -> np.ndarray:
    ranks = read_ranks(path, stage)
    if len(ranks) != len(users) or not ranks.index.isin(users).all():
        raise DataError(f"{path}: ranks other users than the current split; rerun the stage that wrote it (dvc repro)")
    return ranks.reindex(users).to_numpy(dtype=np.int64)


def _dataset_case(dataset: str, config: Config) -> DatasetCase:
    data = encode(read_split(layout.split_file(dataset)))
    groups = dataset_groups(dataset, data, config.analysis.head_fraction, config.analysis.length_percentiles)
    variants = {}
    for variant in config.variants:
        per_seed = [
            _ranks_in_split_order(layout.eval_dir(dataset, variant, seed) / "ranks.parquet", data.users)
            for seed in config.seeds
        ]
        ensemble = _ranks_in_split_order(layout.ensemble_dir(dataset, variant) / "ranks.parquet", data.users, "ensemble")
        variants[variant] = VariantRanks(np.stack(per_seed), ensemble)
    baselines = {}
    for name in config.baselines:
        path = layout.baseline_dir(dataset, name) / "ranks.parquet"
        if path.is_file():
            baselines[name] = _ranks_in_split_order(path, data.users, "baselines")
    missing = tuple(name for name in config.baselines if name not in baselines)
    return DatasetCase(groups, variants, baselines, missing)


@app.command("case-study")
def case_study() -> None:
    """RQ3: HR/NDCG@K on head vs long-tail test items and on sequence-length groups (cut at
    analysis.length_percentiles), for every variant (seed mean and Algorithm 3's ensemble) and
    every baseline with test ranks; the ensemble's gain over a single seed per group.

    Reads datasets, variants, seeds, baselines, eval.ks and analysis.* from params.yaml. Writes
    reports/case_study.md and the bar charts reports/figures/case_study_groups.png and
    case_study_ensemble.png (NDCG at the middle cut-off); links the `tsne` stage's figures.
    """
    config = load_config()
    ks = config.eval.ks
    metric = figure_metric(ks)
    cases = [_dataset_case(dataset, config) for dataset in config.datasets]
    models = [VARIANT_NAMES[variant] for variant in config.variants] + list(config.baselines)
    bars = {DATASET_NAMES[case.groups.dataset]: bar_panels(case, metric, ks) for case in cases}
    title = f"Per-group {metric} (variants: mean over seeds {', '.join(map(str, config.seeds))})"
    save_png(GROUPS_FIGURE, group_bars_figure(bars, models, metric, title))
    gains = {
        DATASET_NAMES[case.groups.dataset]: {"ensemble minus seed mean": ensemble_gains(case, metric, ks).T}
        for case in cases
    }
    title = f"Algorithm 3: ensemble of {len(config.seeds)} seeds minus the seed mean, per group"
    save_png(ENSEMBLE_FIGURE, group_bars_figure(gains, models, f"Δ {metric}", title))
    figures = {
        f"Per-group {metric}": GROUPS_FIGURE.relative_to(layout.REPORTS).as_posix(),
        f"Ensemble gain in {metric}": ENSEMBLE_FIGURE.relative_to(layout.REPORTS).as_posix(),
    }
    tsne_links = {
        (dataset, variant): tsne_figure_file(dataset, variant).relative_to(layout.REPORTS).as_posix()
        for dataset in config.datasets
        for variant in config.variants
    }
    write_text(CASE_STUDY, render_case_study(cases, ks, config.seeds, figures, tsne_links))


@app.command()
def tsne(
    dataset: Annotated[str, typer.Argument(help="Dataset key, e.g. ml-100k.")],
    variant: Annotated[str, typer.Argument(help="baseline, v1 or v2.")],
) -> None:
    """Figures 3-6: t-SNE of the reconstructed target representations x0 of a fixed sample of
    test users (analysis.tsne_users, drawn with analysis.tsne_seed), coloured by whether the
    user's test item is a head or a long-tail item.

    The model is the run of the first seed in params.yaml; its reverse process uses that seed.
    Writes runs/analysis/DATASET/VARIANT/tsne.csv (user_id, x, y, label) and
    reports/figures/tsne_DATASET_VARIANT.png.
    """
    dataset_source(dataset)
    check_variant(variant)
    config = load_config()
    analysis = config.analysis
    data = encode(read_split(layout.split_file(dataset)))
    users = sample_users(len(data.users), analysis.tsne_users, analysis.tsne_seed)
    if analysis.tsne_perplexity >= len(users):
        raise ConfigError(
            f"params: analysis.tsne_perplexity ({analysis.tsne_perplexity}) must be below the {len(users)} users "
            f"{dataset} has; lower it"
        )
    seed = config.seeds[0]
    ((model, _),) = load_members(dataset, variant, [seed], data, config)
    windows = evaluation_windows(data, "test", model.config.max_len).subset(users)
    windows = windows.to(resolve_device(config.eval.device))
    x0 = reconstruct_users(model, windows, batch_size=config.eval.batch_size, seed=seed, precision=config.eval.precision)
    with tqdm(total=1, desc="t-SNE", unit="fit") as bar:
        points = tsne_points(x0, perplexity=analysis.tsne_perplexity, seed=analysis.tsne_seed)
        bar.update()
    popularity = dataset_groups(dataset, data, analysis.head_fraction, analysis.length_percentiles).popularity
    labels = np.array(popularity.labels)[popularity.groups[users]]
    _write_tsne_table(tsne_table_file(dataset, variant), data, users, points, labels)
    title = (
        f"t-SNE of reconstructed x0, {len(users)} test users\n"
        f"{DATASET_NAMES[dataset]}, {VARIANT_NAMES[variant]}, seed {seed}"
    )
    save_png(tsne_figure_file(dataset, variant), tsne_figure(points, labels, popularity.labels, "test item", title))


def _write_tsne_table(
    path: Path, data: SequenceData, users: np.ndarray, points: np.ndarray, labels: np.ndarray
) -> None:
    table = pd.DataFrame(
        {
            "user_id": np.array(data.users)[users],
            "x": np.round(points[:, 0], 4),
            "y": np.round(points[:, 1], 4),
            "label": labels,
        }
    )
    write_with(path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.4f"))
