"""Stage `tsne DATASET VARIANT`: the paper's Figures 3-6, t-SNE of the reconstructed x0 (for the
control, which has no reverse process, of its one pass's representation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from diffurec.datasets import DATASET_NAMES, find_dataset
from diffurec.device import resolve_device
from diffurec.errors import ConfigError
from diffurec.inference import reconstruct_users
from diffurec.report.case_study import dataset_groups
from diffurec.report.figures import sample_users, tsne_figure, tsne_points, tsne_title
from diffurec.sequences import SequenceData, encode, evaluation_windows
from diffurec.variants import find_variant
from pipeline import layout
from pipeline.app import app
from pipeline.arguments import DatasetKey, VariantKey
from pipeline.files.atomic_write import write_png, write_with
from pipeline.files.checkpoint import load_run_models
from pipeline.files.data_tables import read_split
from pipeline.params import load_config


@app.command()
def tsne(dataset: DatasetKey, variant: VariantKey) -> None:
    """Figures 3-6: t-SNE of the reconstructed target representations x0 of a fixed sample of
    test users (analysis.tsne_users, drawn with analysis.tsne_seed), coloured by whether the
    user's test item is a head or a long-tail item. The control has no x0: its points are the
    representation its one pass scores the items against.

    The model is the run of the first seed in params.yaml; its reverse process uses that seed.
    Writes runs/analysis/DATASET/VARIANT/tsne.csv (user_id, x, y, label) and
    reports/figures/tsne_DATASET_VARIANT.png.
    """
    find_dataset(dataset)
    find_variant(variant)
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
    device = resolve_device(config.eval.device)
    model = load_run_models(dataset, variant, [seed], data.items, device)[seed]
    windows = evaluation_windows(data, "test", model.config.max_len).subset(users).to(device)
    x0 = reconstruct_users(model, windows, batch_size=config.eval.batch_size, seed=seed, precision=config.eval.precision,
                           compile=config.eval.compile)
    with tqdm(total=1, desc="t-SNE", unit="fit") as bar:
        points = tsne_points(x0, perplexity=analysis.tsne_perplexity, seed=analysis.tsne_seed)
        bar.update()
    popularity = dataset_groups(dataset, data, analysis.head_fraction, analysis.length_percentiles).popularity
    labels = np.array(popularity.labels)[popularity.groups[users]]
    _write_tsne_table(layout.tsne_table_file(dataset, variant), data, users, points, labels)
    title = tsne_title(DATASET_NAMES[dataset], variant, len(users), seed)
    write_png(layout.tsne_figure_file(dataset, variant), tsne_figure(points, labels, popularity.labels, "test item", title))


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
