"""Stage `evaluate DATASET VARIANT SEED`: test-set full ranking of one trained run."""

from __future__ import annotations

from typing import Annotated

import typer

from diffurec.datasets import find_dataset
from diffurec.variants import find_variant
from pipeline import layout
from pipeline.app import app
from pipeline.arguments import DatasetKey, VariantKey
from pipeline.files.run_results import write_evaluation
from pipeline.params import load_config
from pipeline.ranking import load_test_run, rank_test_users


@app.command()
def evaluate(
    dataset: DatasetKey,
    variant: VariantKey,
    seed: Annotated[int, typer.Argument(help="Seed of the trained run; also seeds the reverse process.")],
) -> None:
    """Rank every real item for each user's test item with the run's best model (Algorithm 2).

    Writes runs/eval/DATASET/VARIANT/seedSEED/metrics.json (HR/NDCG@K over users, averaged as
    eval.averaging says) and
    ranks.parquet (user_id, rank) for paired significance tests.
    """
    find_dataset(dataset)
    find_variant(variant)
    config = load_config()
    data, model, windows = load_test_run(dataset, variant, seed, config)
    ranks = rank_test_users([(model, seed)], windows, config.eval)
    write_evaluation(layout.eval_dir(dataset, variant, seed), data.users, ranks, config.eval)
