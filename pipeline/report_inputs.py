"""Reads what the report stages (ttest, tables) consume: run files, t-test results, the paper's numbers.

Only the runs named by params.yaml's `datasets`, `variants` and `seeds` are read, so a stale run
left on disk never reaches a report. Every refusal names the file and the stage that writes it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow
import yaml

from diffurec.errors import DataError
from diffurec.metrics import ndcg
from diffurec.significance import PrintedTTest
from diffurec.tables import PaperTables, VariantRuns
from pipeline import layout

PAPER_TABLES = Path("reference/paper_tables.yaml")


def read_json(path: Path, stage: str) -> Any:
    if not path.is_file():
        raise DataError(f"{path}: not found; run the {stage} stage first (dvc repro {stage})")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not valid JSON ({error}); rerun the {stage} stage (dvc repro {stage})") from error


def read_metrics(path: Path, metrics: Sequence[str]) -> dict[str, float]:
    """An evaluate-stage metrics.json, reduced to `metrics` (each a finite number)."""
    raw = read_json(path, "evaluate")
    return {metric: _number(raw, metric, path, "evaluate") for metric in metrics}


def read_ranks(path: Path, stage: str = "evaluate") -> pd.Series:
    """A ranks.parquet written by `stage` as rank (int, 1 = best) indexed by user_id, sorted by user_id."""
    if not path.is_file():
        raise DataError(f"{path}: not found; run the {stage} stage first (dvc repro {stage})")
    try:
        frame = pd.read_parquet(path, columns=["user_id", "rank"])
    except (pyarrow.ArrowException, OSError, ValueError, KeyError) as error:
        raise DataError(
            f"{path}: not a Parquet table with columns user_id, rank ({error}); rerun the {stage} stage"
        ) from error
    if frame.empty or frame["user_id"].duplicated().any():
        raise DataError(f"{path}: needs one row per test user (empty or duplicated user_id); rerun the {stage} stage")
    if not pd.api.types.is_integer_dtype(frame["rank"]) or (frame["rank"] < 1).any():
        raise DataError(f"{path}: column rank must hold integers >= 1; rerun the {stage} stage")
    return frame.set_index(frame["user_id"].astype(str))["rank"].sort_index()


def seed_averaged_ndcg(runs: Path, dataset: str, variant: str, seeds: Sequence[int], k: int) -> pd.Series:
    """Per-user NDCG@k averaged over seeds, indexed by user_id (sorted); every seed must rank the same users."""
    per_seed = []
    for seed in seeds:
        path = layout.eval_dir(dataset, variant, seed, runs) / "ranks.parquet"
        ranks = read_ranks(path)
        if per_seed and not ranks.index.equals(per_seed[0].index):
            raise DataError(
                f"{path}: ranks other test users than seed {seeds[0]} of the same run; rerun the evaluate stage"
            )
        per_seed.append(pd.Series(ndcg(ranks.to_numpy(), k), index=ranks.index))
    return pd.concat(per_seed, axis=1).mean(axis=1)


def seed_metrics(
    runs: Path, dataset: str, variant: str, seeds: Sequence[int], metrics: Sequence[str]
) -> dict[str, tuple[float, ...]]:
    """metric -> one value per seed, in `seeds` order, so that seeds pair up across variants."""
    per_seed = [read_metrics(layout.eval_dir(dataset, variant, seed, runs) / "metrics.json", metrics) for seed in seeds]
    return {metric: tuple(values[metric] for values in per_seed) for metric in metrics}


def load_variant_runs(
    runs: Path, dataset: str, variant: str, seeds: Sequence[int], metrics: Sequence[str]
) -> VariantRuns:
    """Every seed's train.json and metrics.json and the ensemble's metrics.json of one (dataset, variant)."""
    trains = [
        _read_train(layout.train_dir(dataset, variant, seed, runs) / "train.json", dataset, variant, seed)
        for seed in seeds
    ]
    stage = _train_stage(variant)
    return VariantRuns(
        seeds=tuple(seeds),
        metrics=seed_metrics(runs, dataset, variant, seeds, metrics),
        ensemble=read_metrics(layout.ensemble_dir(dataset, variant, runs) / "metrics.json", metrics),
        time_to_best_s=tuple(_number(t, "time_to_best_s", p, stage) for p, t in trains),
        total_time_s=tuple(_number(t, "total_time_s", p, stage) for p, t in trains),
        best_epoch=tuple(_integer(t, "best_epoch", p, stage) for p, t in trains),
        devices=tuple(_string(t, "device", p, stage) for p, t in trains),
    )


def load_paper_tables(path: Path) -> PaperTables:
    """The paper's printed numbers from reference/paper_tables.yaml, checked for shape."""
    if not path.is_file():
        raise DataError(f"{path}: not found; restore it from git (git checkout -- {path})")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise DataError(f"{path}: not valid YAML ({error}); restore it from git") from error
    try:
        metrics = tuple(str(m) for m in raw["metrics"])
        return PaperTables(
            metrics=metrics,
            convergence_s={
                variant: {dataset: float(s) for dataset, s in row.items()}
                for variant, row in raw["table2_convergence_seconds"].items()
            },
            means=_per_metric(raw["table3_mean"], metrics),
            stds=_per_metric(raw["table3_std"], metrics),
            printed_table4={
                dataset: {
                    label: PrintedTTest(float(r["t"]), float(r["p"]), float(r["avg_diff_pp"]))
                    for label, r in rows.items()
                }
                for dataset, rows in raw["table4_printed"].items()
            },
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise DataError(f"{path}: malformed paper table ({error!r}); restore it from git") from error


def _per_metric(table: dict, metrics: tuple[str, ...]) -> dict[str, dict[str, tuple[float, ...]]]:
    result = {}
    for dataset, columns in table.items():
        result[dataset] = {}
        for variant, values in columns.items():
            if len(values) != len(metrics):
                raise ValueError(f"{dataset}/{variant} lists {len(values)} values for {len(metrics)} metrics")
            result[dataset][variant] = tuple(float(v) for v in values)
    return result


def _train_stage(variant: str) -> str:
    """Training is one DVC matrix per variant: `dvc repro train-v1` reruns v1's runs."""
    return f"train-{variant}"


def _read_train(path: Path, dataset: str, variant: str, seed: int) -> tuple[Path, dict]:
    stage = _train_stage(variant)
    raw = read_json(path, stage)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object; rerun the {stage} stage (dvc repro {stage})")
    found = (raw.get("dataset"), raw.get("variant"), raw.get("seed"))
    if found != (dataset, variant, seed):
        raise DataError(
            f"{path}: records dataset/variant/seed {found}, expected {(dataset, variant, seed)}; "
            f"rerun the {stage} stage (dvc repro {stage})"
        )
    return path, raw


def _number(raw: Any, key: str, path: Path, stage: str) -> float:
    value = raw.get(key) if isinstance(raw, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataError(
            f"{path}: '{key}' must be a finite number, got {value!r}; rerun the {stage} stage (dvc repro {stage})"
        )
    return float(value)


def _integer(raw: dict, key: str, path: Path, stage: str) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{path}: '{key}' must be an integer, got {value!r}; rerun the {stage} stage (dvc repro {stage})")
    return value


def _string(raw: dict, key: str, path: Path, stage: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise DataError(f"{path}: '{key}' must be a string, got {value!r}; rerun the {stage} stage (dvc repro {stage})")
    return value
