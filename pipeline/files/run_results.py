"""The files the run stages write and the report stages read: train.json; metrics.json and
ranks.parquet of the evaluate, ensemble and baselines stages; the ttest stage's results.json;
results.json and ranks.parquet of the ablation stage.

Only the runs named by params.yaml's `datasets`, `variants` and `seeds` are read, so a stale run
left on disk never reaches a report. Every refusal names the file and the stage that writes it.
The evaluate and ensemble stages write their results through `write_evaluation`, so both write
what `read_metrics` and `read_ranks` expect.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow

from diffurec.config import Config, EvalConfig
from diffurec.errors import DataError
from diffurec.metrics import ndcg, summarize
from diffurec.report.ablation import SettingRun
from diffurec.report.comparison import BaselineRun
from diffurec.report.evidence import Training
from diffurec.report.significance import PaperRowCheck, VariantComparison, comparison_pairs
from diffurec.report.tables import VariantRuns
from pipeline import layout
from pipeline.files.atomic_write import atomic_dir, write_json, write_with


def write_evaluation(out: Path, users: Sequence[str], ranks: np.ndarray, settings: EvalConfig) -> None:
    """metrics.json (HR/NDCG@K over users, averaged as eval.averaging says, and the user count)
    and ranks.parquet (user_id, rank), replacing `out` as a whole so that they always belong together."""
    metrics = _metrics(ranks, settings)
    table = pd.DataFrame({"user_id": users, "rank": ranks.astype(np.int64)})
    with atomic_dir(out) as staging:
        write_json(staging / "metrics.json", {**metrics, "users": len(ranks)})
        write_with(staging / "ranks.parquet", lambda tmp: table.to_parquet(tmp, index=False))


class MeasuredSetting(NamedTuple):
    """One inference setting as the ablation stage ran it: its name (params `ablation`), the
    reverse steps taken (original indices), whether x_t was zeroed, the seconds and the ranks [S]."""

    name: str
    timesteps: tuple[int, ...]
    zero_xt: bool
    seconds: float
    ranks: np.ndarray


def write_ablation(
    out: Path, run: dict[str, Any], users: Sequence[str], measured: Sequence[MeasuredSetting], settings: EvalConfig
) -> None:
    """results.json (`run`, e.g. dataset, variant, seed, model_steps and device, and per setting its
    steps, seconds and metrics as `write_evaluation` computes them) and ranks.parquet (user_id and
    one rank column per setting), replacing `out` as a whole."""
    results = [
        {"name": m.name, "timesteps": list(m.timesteps), "zero_xt": m.zero_xt, "seconds": round(m.seconds, 6),
         "metrics": _metrics(m.ranks, settings)}
        for m in measured
    ]
    table = pd.DataFrame({"user_id": users, **{m.name: m.ranks.astype(np.int64) for m in measured}})
    with atomic_dir(out) as staging:
        write_json(staging / "results.json", {**run, "users": len(users), "settings": results})
        write_with(staging / "ranks.parquet", lambda tmp: table.to_parquet(tmp, index=False))


def read_ablation(
    runs: Path, dataset: str, variant: str, seed: int, names: Sequence[str], metrics: Sequence[str]
) -> tuple[str, list[SettingRun]]:
    """An ablation-stage results.json: the device it was measured on and its settings, refused
    unless it is this run's and holds exactly the settings `names`, in that order."""
    path = layout.ablation_dir(dataset, variant, seed, runs) / "results.json"
    raw = read_json(path, "ablation")
    fix = "rerun the ablation stage (dvc repro ablation)"
    if not isinstance(raw, dict) or not isinstance(raw.get("settings"), list):
        raise DataError(f"{path}: expected an object with a 'settings' list; {fix}")
    found = (raw.get("dataset"), raw.get("variant"), raw.get("seed"))
    if found != (dataset, variant, seed):
        raise DataError(f"{path}: records dataset/variant/seed {found}, expected {(dataset, variant, seed)}; {fix}")
    listed = [entry.get("name") if isinstance(entry, dict) else None for entry in raw["settings"]]
    if listed != list(names):
        raise DataError(f"{path}: holds the settings {listed}, params.yaml's ablation asks for {list(names)}; {fix}")
    model_steps = _integer(raw, "model_steps", path, "ablation")
    try:
        settings = [
            SettingRun(
                name=entry["name"],
                model_steps=model_steps,
                timesteps=tuple(int(t) for t in entry["timesteps"]),
                zero_xt=bool(entry["zero_xt"]),
                seconds=_number(entry, "seconds", path, "ablation"),
                metrics={metric: _number(entry["metrics"], metric, path, "ablation") for metric in metrics},
            )
            for entry in raw["settings"]
        ]
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"{path}: malformed ({error!r}); {fix}") from error
    return _string(raw, "device", path, "ablation"), settings


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


def read_ranks(path: Path, stage: str = "evaluate", column: str = "rank") -> pd.Series:
    """A ranks.parquet written by `stage` as `column` (int, 1 = best; the ablation stage writes one
    per setting) indexed by user_id, sorted by user_id."""
    if not path.is_file():
        raise DataError(f"{path}: not found; run the {stage} stage first (dvc repro {stage})")
    try:
        frame = pd.read_parquet(path, columns=["user_id", column])
    except (pyarrow.ArrowException, OSError, ValueError, KeyError) as error:
        raise DataError(
            f"{path}: not a Parquet table with columns user_id, {column} ({error}); rerun the {stage} stage"
        ) from error
    if frame.empty or frame["user_id"].duplicated().any():
        raise DataError(f"{path}: needs one row per test user (empty or duplicated user_id); rerun the {stage} stage")
    if not pd.api.types.is_integer_dtype(frame[column]) or (frame[column] < 1).any():
        raise DataError(f"{path}: column {column} must hold integers >= 1; rerun the {stage} stage")
    return frame.set_index(frame["user_id"].astype(str))[column].sort_index()


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
    trains = _read_trains(runs, dataset, variant, seeds)
    stage = _train_stage(variant)
    training = _training(trains, stage)
    return VariantRuns(
        seeds=tuple(seeds),
        metrics=seed_metrics(runs, dataset, variant, seeds, metrics),
        ensemble=read_metrics(layout.ensemble_dir(dataset, variant, runs) / "metrics.json", metrics),
        time_to_best_s=training.time_to_best_s,
        total_time_s=tuple(_number(t, "total_time_s", p, stage) for p, t in trains),
        best_epoch=training.best_epoch,
        devices=tuple(_string(t, "device", p, stage) for p, t in trains),
        last_epoch=tuple(_last_epoch(t, p, stage) for p, t in trains),
        stopped_early=training.stopped_early,
        patience=tuple(_optional(t, "patience", int, p, stage) for p, t in trains),
    )


def read_training(runs: Path, dataset: str, variant: str, seeds: Sequence[int]) -> Training:
    """Every seed's seconds to its best validation epoch, that epoch and whether early stopping ended
    the run (not recorded: it did not), from its train.json."""
    return _training(_read_trains(runs, dataset, variant, seeds), _train_stage(variant))


def _read_trains(runs: Path, dataset: str, variant: str, seeds: Sequence[int]) -> list[tuple[Path, dict]]:
    return [
        _read_train(layout.train_dir(dataset, variant, seed, runs) / "train.json", dataset, variant, seed)
        for seed in seeds
    ]


def _training(trains: Sequence[tuple[Path, dict]], stage: str) -> Training:
    return Training(
        time_to_best_s=tuple(_number(t, "time_to_best_s", p, stage) for p, t in trains),
        best_epoch=tuple(_integer(t, "best_epoch", p, stage) for p, t in trains),
        stopped_early=tuple(bool(_optional(t, "stopped_early", bool, p, stage)) for p, t in trains),
    )


def read_baseline(
    runs: Path, dataset: str, name: str, metrics: tuple[str, ...]
) -> tuple[BaselineRun, dict[str, float]]:
    """A baselines-stage metrics.json: the run's settings, time and epochs, and `metrics` (each finite).
    best_epoch, last_epoch and stopped_early are None in a file written before they were recorded."""
    path = layout.baseline_dir(dataset, name, runs) / "metrics.json"
    raw = read_json(path, "baselines")
    try:
        values = {metric: float(raw[metric]) for metric in metrics}
        run = BaselineRun(
            dataset,
            name,
            dict(raw["settings"]),
            float(raw["train_seconds"]),
            best_epoch=_optional(raw, "best_epoch", int, path, "baselines"),
            last_epoch=_optional(raw, "last_epoch", int, path, "baselines"),
            stopped_early=_optional(raw, "stopped_early", bool, path, "baselines"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"{path}: malformed ({error!r}); rerun the baselines stage (dvc repro baselines)") from error
    if not all(math.isfinite(v) for v in values.values()):
        raise DataError(f"{path}: a metric is not a finite number; rerun the baselines stage (dvc repro baselines)")
    return run, values


def read_ttest(
    path: Path, config: Config, metrics: tuple[str, ...]
) -> tuple[dict[tuple[str, str], VariantComparison], list[PaperRowCheck]]:
    """The ttest stage's results.json, refused unless computed for the datasets, variants, seeds and
    metrics `config` asks for, with every comparison `comparison_pairs` asks for:
    (dataset, variant, reference) -> comparison, and the paper's Table 4 checks."""
    raw = read_json(path, "ttest")
    expected = {
        "datasets": list(config.datasets),
        "variants": list(config.variants),
        "seeds": list(config.seeds),
        "metrics": list(metrics),
    }
    found = {key: raw.get(key) for key in expected} if isinstance(raw, dict) else None
    if found != expected:
        raise DataError(
            f"{path}: computed for {found}, params.yaml asks for {expected}; rerun the ttest stage (dvc repro ttest)"
        )
    try:
        comparisons = [VariantComparison.from_dict(c) for c in raw["comparisons"]]
        checks = [PaperRowCheck.from_dict(c) for c in raw["paper_table4"]]
    except (KeyError, TypeError) as error:
        raise DataError(f"{path}: malformed ({error!r}); rerun the ttest stage (dvc repro ttest)") from error
    found_pairs = [(c.dataset, c.variant, c.reference) for c in comparisons]
    expected_pairs = [(d, *pair) for d in config.datasets for pair in comparison_pairs(config.variants)]
    if found_pairs != expected_pairs:
        raise DataError(
            f"{path}: holds the comparisons (dataset, model, reference) {found_pairs}, params.yaml asks for "
            f"{expected_pairs}; rerun the ttest stage (dvc repro ttest)"
        )
    return {(c.dataset, c.variant, c.reference): c for c in comparisons}, checks


def _metrics(ranks: np.ndarray, settings: EvalConfig) -> dict[str, float]:
    """HR/NDCG@K over users, averaged as eval.averaging says, to 6 decimals."""
    return {name: round(value, 6) for name, value in summarize(ranks, settings.ks, settings.averaging_batch()).items()}


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


def _last_epoch(raw: dict, path: Path, stage: str) -> int:
    """The last epoch trained; a train.json from before early stopping was recorded trained them all."""
    if "last_epoch" in raw:
        return _integer(raw, "last_epoch", path, stage)
    return _integer(raw, "epochs", path, stage)


def _optional(raw: dict, key: str, kind: type, path: Path, stage: str) -> Any:
    """raw[key] if present (refused unless of type `kind`), None if the file predates the key."""
    if key not in raw:
        return None
    value = raw[key]
    # bool is an int in Python, and an int is no bool: each must be what the writer wrote.
    if type(value) is not kind:
        raise DataError(
            f"{path}: '{key}' must be a {kind.__name__}, got {value!r}; rerun the {stage} stage (dvc repro {stage})"
        )
    return value


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
