"""Stage `ablation-report`: the inference ablations of every run as Markdown, plot data and a figure."""

from __future__ import annotations

from diffurec.datasets import DATASET_NAMES
from diffurec.report.ablation import (
    differences_title,
    plot_table,
    render_ablation,
    setting_differences,
    setting_names,
)
from diffurec.report.case_study import figure_metric
from diffurec.report.figures import ablation_differences_figure
from diffurec.report.provenance import headed, provenance
from diffurec.report.tables import metric_names
from diffurec.variants import VARIANT_NAMES, find_variant
from pipeline import layout
from pipeline.app import app
from pipeline.files.atomic_write import write_png, write_text
from pipeline.files.run_results import read_ablation, seed_metrics
from pipeline.params import load_config

ABLATION = layout.REPORTS / "ablation.md"
PLOT_DATA = layout.REPORTS / "ablation.tsv"
FIGURE = layout.FIGURES / "ablation.png"


@app.command("ablation-report")
def ablation_report() -> None:
    """Per dataset and variant, one row per ablation setting with HR/NDCG@K and the inference
    seconds as mean ± std over the seeds, from the ablation stage's results of every run in
    datasets x variants x seeds (refused if one holds other settings than params.yaml's `ablation`,
    or for the control other than its one pass).

    Writes reports/ablation.md, reports/ablation.tsv (the seed means, for `dvc plots`) and
    reports/figures/ablation.png: per diffusion model and seed, each setting's NDCG at the middle
    cut-off minus the full reverse process's (the evaluate stage's metrics.json of that run).
    """
    config = load_config()
    metrics = metric_names(config.eval.ks)
    runs = {}
    devices = []
    for dataset in config.datasets:
        for variant in config.variants:
            names = setting_names(variant, list(config.ablation.settings()))
            per_seed = []
            for seed in config.seeds:
                device, settings = read_ablation(layout.RUNS, dataset, variant, seed, names, metrics)
                devices.append(device)
                per_seed.append(settings)
            runs[dataset, variant] = per_seed
    write_text(PLOT_DATA, plot_table(runs, metrics))
    metric = figure_metric(config.eval.ks)
    diffusion = [variant for variant in config.variants if find_variant(variant).diffusion]
    full = {
        (dataset, variant): seed_metrics(layout.RUNS, dataset, variant, config.seeds, [metric])[metric]
        for dataset in config.datasets
        for variant in diffusion
    }
    figure = ablation_differences_figure(
        setting_differences(runs, full, metric),
        {dataset: DATASET_NAMES[dataset] for dataset in config.datasets},
        {variant: VARIANT_NAMES[variant] for variant in diffusion},
        f"Δ {metric} (percentage points)",
        differences_title(metric, config.seeds),
    )
    write_png(FIGURE, figure)
    link = FIGURE.relative_to(layout.REPORTS).as_posix()
    write_text(ABLATION, headed(render_ablation(runs, metrics, config.seeds, devices, link), provenance(config)))
