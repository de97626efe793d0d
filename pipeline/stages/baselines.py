"""Stage `baselines DATASET NAME`: one RecBole baseline trained and tested on our exact split."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from diffurec.datasets import find_dataset
from diffurec.errors import ConfigError
from diffurec.metrics import check_cutoffs
from diffurec.report.dataset_stats import dataset_statistics
from pipeline import layout
from pipeline.app import app
from pipeline.arguments import DatasetKey
from pipeline.files.atomic_write import atomic_dir, write_json, write_text, write_with
from pipeline.files.data_tables import read_split
from pipeline.files.studies import training_config
from pipeline.params import DEFAULT_PARAMS, load_config
from pipeline.recbole_runner import Validation, run_baseline, validation_history


@app.command()
def baselines(
    dataset: DatasetKey,
    name: Annotated[str, typer.Argument(help="Baseline name: a key of recbole.models in params.yaml, e.g. SASRec-CE.")],
    split: Annotated[Path | None, typer.Option(help="Split table. Default: data/split/DATASET.parquet.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder. Default: runs/baselines/DATASET/NAME.")] = None,
    params: Annotated[Path, typer.Option(help="Parameters file (reads recbole, model.max_len, eval.ks).")]
    = DEFAULT_PARAMS,
) -> None:
    """Train baseline NAME with RecBole on DATASET's split and rank every user's test item.

    With tune.enabled it trains with NAME's tuned setting from studies/DATASET/NAME/best.yaml
    (stage `tune`) in place of recbole.models.NAME's own for the keys its study searched.

    RecBole gets our split as an interaction file and must rebuild exactly the same users, training
    sequences, validation and test items (checked before training). It trains with early stopping
    on validation NDCG@10 and the best epoch ranks all items for each test item. Writes
    metrics.json (HR/NDCG@K, users, settings, train_seconds, best_epoch and last_epoch (1-based),
    stopped_early: whether early stopping, not the epoch budget, ended training), ranks.parquet
    (user_id, rank), history.tsv (validation NDCG@10 after each validated epoch, as our training
    runs' history) and recbole.log into OUT; RecBole's data files and checkpoints live in a
    folder deleted at the end.
    """
    config = load_config(params)
    find_dataset(dataset)
    if name not in config.recbole.models:
        raise ConfigError(
            f"{params}: no baseline {name!r} in recbole.models (it has {list(config.recbole.models)}); "
            "add it or pick one of these"
        )
    run = training_config(config, dataset, name).recbole.models[name]
    split_path = split or layout.split_file(dataset)
    ours = read_split(split_path)
    check_cutoffs(config.eval.ks, dataset_statistics(ours).items, dataset)
    out = out or layout.baseline_dir(dataset, name)
    out.parent.mkdir(parents=True, exist_ok=True)
    validations: list[Validation] = []

    def record(validation: Validation) -> bool:
        validations.append(validation)
        return False  # never stops the run: RecBole's own early stopping does

    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.recbole-") as scratch:
        result, recbole_log = run_baseline(ours, split_path, run, config.model.max_len, config.recbole.seed,
                                           Path(scratch), f"{name} on {dataset}", config.recbole.threads, record)
    summary = result.summary(config.eval.ks, config.eval.averaging_batch())
    with atomic_dir(out) as staging:
        write_with(staging / "ranks.parquet", lambda tmp: result.ranks.to_parquet(tmp, index=False))
        write_text(staging / "recbole.log", recbole_log)
        write_text(staging / "history.tsv", validation_history(validations))
        write_json(
            staging / "metrics.json",
            {**summary, "dataset": dataset, "baseline": name, "settings": {**result.settings, "threads": config.recbole.threads}},
        )
