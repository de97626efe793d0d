"""Stage `baselines DATASET NAME`: one RecBole baseline trained and tested on our exact split."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from diffurec.datasets import find_dataset
from diffurec.errors import ConfigError
from diffurec.metrics import check_cutoffs, summarize
from diffurec.report.dataset_stats import dataset_statistics
from pipeline import layout
from pipeline.app import app
from pipeline.arguments import DatasetKey
from pipeline.files.atomic_write import atomic_dir, write_json, write_text, write_with
from pipeline.files.data_tables import read_split
from pipeline.params import DEFAULT_PARAMS, load_config
from pipeline.recbole_compat import recbole_session
from pipeline.recbole_runner import (
    check_same_split,
    prepare,
    recbole_settings,
    recbole_split,
    train_and_rank,
    write_split_inter,
)


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

    RecBole gets our split as an interaction file and must rebuild exactly the same users, training
    sequences, validation and test items (checked before training). It trains with early stopping
    on validation NDCG@10 and the best epoch ranks all items for each test item. Writes
    metrics.json (HR/NDCG@K, users, settings, train_seconds, best_epoch and last_epoch (1-based),
    stopped_early: whether early stopping, not the epoch budget, ended training), ranks.parquet
    (user_id, rank) and recbole.log into OUT; RecBole's data files and checkpoints live in a
    folder deleted at the end.
    """
    config = load_config(params)
    find_dataset(dataset)
    if name not in config.recbole.models:
        raise ConfigError(
            f"{params}: no baseline {name!r} in recbole.models (it has {list(config.recbole.models)}); "
            "add it or pick one of these"
        )
    run = config.recbole.models[name]
    split_path = split or layout.split_file(dataset)
    ours = read_split(split_path)
    check_cutoffs(config.eval.ks, dataset_statistics(ours).items, dataset)
    out = out or layout.baseline_dir(dataset, name)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.recbole-") as scratch:
        work = Path(scratch)
        write_split_inter(ours, work / "data")
        settings = recbole_settings(run, config.model.max_len, config.recbole.seed, work / "data", work / "checkpoints")
        log = work / "recbole.log"
        with recbole_session(log, f"{name} on {dataset}", config.recbole.threads) as bar:
            prepared = prepare(run, settings)
            bar.expect(prepared.config["epochs"])
            check_same_split(ours, recbole_split(prepared), split_path)
            result = train_and_rank(prepared, run, ours["user_id"])
        recbole_log = log.read_text(encoding="utf-8")
    ranks = result.ranks["rank"].to_numpy(dtype=np.int64)
    metrics = {metric: round(value, 6) for metric, value in summarize(ranks, config.eval.ks, config.eval.averaging_batch()).items()}
    with atomic_dir(out) as staging:
        write_with(staging / "ranks.parquet", lambda tmp: result.ranks.to_parquet(tmp, index=False))
        write_text(staging / "recbole.log", recbole_log)
        write_json(
            staging / "metrics.json",
            {
                **metrics,
                "users": len(ranks),
                "dataset": dataset,
                "baseline": name,
                "settings": {**result.settings, "threads": config.recbole.threads},
                "train_seconds": round(result.train_seconds, 2),
                "best_epoch": result.best_epoch,
                "last_epoch": result.last_epoch,
                "stopped_early": result.stopped_early,
            },
        )
