"""Stage `case-study`: the RQ3 case study of paper section 6.5, per user group, as Markdown and bar charts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffurec.config import Config
from diffurec.datasets import DATASET_NAMES
from diffurec.errors import DataError
from diffurec.report.case_study import (
    DatasetCase,
    VariantRanks,
    bar_panels,
    dataset_groups,
    ensemble_gains,
    figure_metric,
    groups_figure_title,
    metrics_tsv,
    render_case_study,
)
from diffurec.report.figures import BarPanel, group_bars_figure
from diffurec.report.provenance import headed, provenance
from diffurec.sequences import encode
from diffurec.variants import VARIANT_NAMES
from pipeline import layout
from pipeline.app import app
from pipeline.files.atomic_write import write_png, write_text
from pipeline.files.data_tables import read_split
from pipeline.files.run_results import read_ranks
from pipeline.params import load_config

CASE_STUDY = layout.REPORTS / "case_study.md"
# Every metric of the tables, which show one.
CASE_STUDY_METRICS = layout.REPORTS / "case_study.tsv"
GROUPS_FIGURE = layout.FIGURES / "case_study_groups.png"
ENSEMBLE_FIGURE = layout.FIGURES / "case_study_ensemble.png"


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
    reports/case_study.md (NDCG at the middle cut-off, a column per model), every metric of its
    tables in reports/case_study.tsv, and the bar charts reports/figures/case_study_groups.png and
    case_study_ensemble.png (the same metric); links the `tsne` stage's figures.
    """
    config = load_config()
    ks = config.eval.ks
    metric = figure_metric(ks)
    cases = [_dataset_case(dataset, config) for dataset in config.datasets]
    models = [VARIANT_NAMES[variant] for variant in config.variants] + list(config.baselines)
    bars = {DATASET_NAMES[case.groups.dataset]: bar_panels(case, metric) for case in cases}
    title = groups_figure_title(metric, config.seeds, any(case.baselines for case in cases))
    write_png(GROUPS_FIGURE, group_bars_figure(bars, models, metric, title))
    gains = {
        DATASET_NAMES[case.groups.dataset]: {"ensemble minus seed mean": BarPanel(ensemble_gains(case, metric, ks).T)}
        for case in cases
    }
    title = f"Algorithm 3: ensemble of {len(config.seeds)} seeds minus the seed mean, per group"
    write_png(ENSEMBLE_FIGURE, group_bars_figure(gains, models, f"Δ {metric}", title))
    figures = {
        f"Per-group {metric}": GROUPS_FIGURE.relative_to(layout.REPORTS).as_posix(),
        f"Ensemble gain in {metric}": ENSEMBLE_FIGURE.relative_to(layout.REPORTS).as_posix(),
    }
    tsne_links = {
        (dataset, variant): layout.tsne_figure_file(dataset, variant).relative_to(layout.REPORTS).as_posix()
        for dataset in config.datasets
        for variant in config.variants
    }
    write_text(CASE_STUDY_METRICS, metrics_tsv(cases, ks))
    write_text(CASE_STUDY, headed(render_case_study(cases, ks, config.seeds, figures, tsne_links), provenance(config)))
