"""Stage `ensemble DATASET VARIANT`: Algorithm 3 over the seeds in params.yaml, test-set full ranking."""

from __future__ import annotations

from diffurec.datasets import find_dataset
from diffurec.device import resolve_device
from diffurec.ensemble import ensemble_members
from diffurec.variants import find_variant
from pipeline import layout
from pipeline.app import app
from pipeline.arguments import DatasetKey, VariantKey
from pipeline.files.checkpoint import load_run_models
from pipeline.files.run_results import write_evaluation
from pipeline.params import load_config
from pipeline.ranking import rank_test_users, ranked_windows, read_test_split


@app.command()
def ensemble(dataset: DatasetKey, variant: VariantKey) -> None:
    """Algorithm 3: average the softmax distributions of every seed's run (seeds from params.yaml).

    Each seed's model runs its reverse process with its own seed, exactly as in `evaluate`, so
    an ensemble of one seed reproduces that seed's ranks. With eval.ensemble "inference" the
    first seed's model runs once per seed instead. Writes runs/ensemble/DATASET/VARIANT/.
    """
    find_dataset(dataset)
    find_variant(variant)
    config = load_config()
    data = read_test_split(dataset, config)
    plan = ensemble_members(config.seeds, config.eval.ensemble)
    # Only the runs the reading uses are loaded, in seed order: "inference" needs the first seed's alone.
    runs = list(dict.fromkeys(run for run, _ in plan))
    models = load_run_models(dataset, variant, runs, data.items, resolve_device(config.eval.device))
    members = [(models[run], seed) for run, seed in plan]
    ranks = rank_test_users(members, ranked_windows(data, members[0][0]), config.eval)
    write_evaluation(layout.ensemble_dir(dataset, variant), data.users, ranks, config.eval)
