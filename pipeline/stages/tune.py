"""Stage `tune DATASET MODEL`: a seeded Optuna study of one model's settings on validation data."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Annotated

import optuna
import typer

from diffurec.config import Config
from diffurec.datasets import find_dataset
from diffurec.errors import ConfigError, TrainingError
from diffurec.sequences import encode
from diffurec.train import SELECTION_METRIC, build_model, fit
from diffurec.tuning import Budget, Objective, Report, run_study, summary, trial_table, without_test
from diffurec.variants import find_variant
from pipeline import layout
from pipeline.app import app
from pipeline.arguments import DatasetKey
from pipeline.files.data_tables import read_split
from pipeline.files.studies import BEST, read_outcome, write_study
from pipeline.params import load_config
from pipeline.recbole_runner import Validation, recbole_default, run_baseline


def default_setting(config: Config, model: str) -> dict[str, float]:
    """`model`'s setting in params for each key of its search space; a baseline's unset one is
    RecBole's default. Refuses a default outside its range (it is the study's first trial)."""
    setting = {}
    for key, search in config.tune.spaces[model].items():
        value = config.setting_in_params(model, key)
        if value is None:
            value = recbole_default(config.recbole.models[model].model, key)
            if not search.contains(value):
                raise ConfigError(f"params: tune.spaces.{model}.{key}: RecBole's default {value} is outside the "
                                  "range; widen it, since the default is the study's first trial")
        setting[key] = value
    return setting


# The model settings a variant does not read (dvc.yaml's training stages leave them out): a change
# to one keeps its studies.
DIFFUSION_SETTINGS = ("steps", "schedule", "lambda_delta", "x0", "reverse_noise")
OFFSET_SETTINGS = ("offset", "delta_c", "offset_mode")


def study_name(config: Config, dataset: str, model: str, split: Path) -> str:
    """Identifies a study by what it reads: the split, the settings its model trains with, the
    budget and its space. Its journal is only taken up, and its outcome only kept, by the same."""
    if model in config.variants:
        variant = find_variant(model)
        unread = (*(() if variant.diffusion else DIFFUSION_SETTINGS), *(() if variant.offset_noise else OFFSET_SETTINGS))
        settings = {key: value for key, value in dataclasses.asdict(config.model).items() if key not in unread}
        read = {"seed": config.seeds[0], "model": settings, "train": dataclasses.asdict(config.train),
                "eval": dataclasses.asdict(config.eval)}
    else:
        read = {"seed": config.recbole.seed, "run": dataclasses.asdict(config.recbole.models[model]),
                "max_len": config.model.max_len}
    parts = {
        "study": [dataset, model],
        "reads": read,
        "budget": {**dataclasses.asdict(config.tune), "enabled": None, "spaces": None},
        "space": dataclasses.asdict(config)["tune"]["spaces"][model],
        "split": hashlib.sha256(split.read_bytes()).hexdigest(),
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return f"{dataset}-{model}-{digest}"


def open_journal(path: Path, name: str) -> optuna.storages.JournalStorage:
    """The journal of study `name`, started afresh when it holds another study (other params)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    held = optuna.get_all_study_names(_journal(path)) if path.exists() else []
    if held == [name]:
        typer.echo(f"{path}: resuming the study", err=True)
    elif held:
        typer.echo(f"{path}: holds a study of other params; starting afresh", err=True)
        path.unlink()
    return _journal(path)


def _journal(path: Path) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def ours(config: Config, split: Path, model: str) -> Objective:
    """A trial of our variant `model`: Algorithm 1 with the setting, seeded with the first seed."""
    data = encode(without_test(read_split(split)))
    seed = config.seeds[0]

    def objective(setting: dict[str, float], report: Report) -> float:
        tuned = config.with_setting(model, setting)
        network = build_model(data.n_items, tuned.model, model, seed)

        def validated(state) -> None:
            metrics = state.history[-1]["valid"]
            if metrics is not None:
                report(state.epoch, metrics[SELECTION_METRIC])

        result = fit(network, data, tuned, seed, on_epoch_end=validated, progress=False)
        return result.best_metrics[SELECTION_METRIC]

    return objective


def recbole(config: Config, split: Path, model: str, dataset: str) -> Objective:
    """A trial of baseline `model`: RecBole's training with the setting, no test ranking."""
    view = without_test(read_split(split))
    scratch_root = layout.study_journal(dataset, model).parent

    def objective(setting: dict[str, float], report: Report) -> float:
        run = config.with_setting(model, setting).recbole.models[model]
        scores = []

        def validated(validation: Validation) -> bool:
            scores.append(validation.score)
            report(validation.epoch, validation.score)
            return False  # RecBole's own early stopping ends the run, as in the baselines stage

        with tempfile.TemporaryDirectory(dir=scratch_root, prefix=f".{dataset}-{model}.recbole-") as scratch:
            run_baseline(view, split, run, config.model.max_len, config.recbole.seed, Path(scratch),
                         f"{model} on {dataset}", config.recbole.threads, validated, rank_test=False)
        return max(scores)

    return objective


@app.command()
def tune(
    dataset: DatasetKey,
    model: Annotated[str, typer.Argument(help="A variant (baseline, v1, v2, control) or a baseline name (e.g. SASRec-CE).")],
    split: Annotated[Path | None, typer.Option(help="Split table. Default: data/split/DATASET.parquet.")] = None,
    out: Annotated[Path | None, typer.Option(help="Study folder. Default: studies/DATASET/MODEL.")] = None,
) -> None:
    """Search MODEL's settings on DATASET with a seeded Optuna study of tune.trials trials.

    The first trial is MODEL's setting in params.yaml, then tune.random_starts random ones, then
    TPE, each drawn from tune.spaces.MODEL. Every trial trains as the default does (epoch cap,
    patience; the first seed, or recbole.seed) and is scored by its best validation NDCG@10;
    a median pruner stops a trial below the completed trials' median after an epoch (from epoch
    tune.prune_after). The test items are replaced by the validation items before anything reads
    the split, so no trial sees them. Writes OUT/best.yaml (the best trial's setting beside the
    default's, and the budget spent) and OUT/trials.tsv (every trial: state, value, epochs,
    seconds, setting).

    The study lives in .cache/tune/DATASET-MODEL.journal until it ends: a study killed half-way
    and started again with the same params resumes after its last finished trial, and draws the
    same settings as one that ran through.

    Searches only with tune.enabled true; with false, it records MODEL's default setting as
    "not searched" (seconds, not a search). A study already in OUT for the same params (the
    dataset's split, the model's settings in params.yaml, tune's budget and MODEL's space) is kept:
    a code change does not re-tune; delete OUT to search again.
    """
    config = load_config()
    find_dataset(dataset)
    if model not in config.models():
        raise ConfigError(f"no model {model!r} in this run; choose one of {list(config.models())}")
    if model not in config.tune.spaces:
        raise ConfigError(f"params: tune.spaces has no search space for {model!r}; give it one "
                          "(params.yaml says where each model's ranges come from)")
    split_path = split or layout.split_file(dataset)
    out = out or layout.study_dir(dataset, model)
    name = study_name(config, dataset, model, split_path)
    default = default_setting(config, model)
    kept = read_outcome(out) if (out / BEST).is_file() else None
    if kept is not None and kept.get("study") == name and kept.get("searched"):
        typer.echo(f"{out}: the study of these params is done; delete the folder to search again", err=True)
        return
    if not config.tune.enabled:
        typer.echo(f"tune.enabled is false: recorded {model}'s default setting in {out} without a search; "
                   "the study runs when tune.enabled is true", err=True)
        write_study(out, unsearched(dataset, model, name, default), trial_table(None))
        return
    objective = ours(config, split_path, model) if model in config.variants else recbole(config, split_path, model, dataset)
    journal_path = layout.study_journal(dataset, model)
    settings = config.tune
    budget = Budget(settings.trials, settings.random_starts, settings.seed, settings.prune_after)
    study = run_study(open_journal(journal_path, name), name, settings.spaces[model], default, objective, budget,
                      catch=(TrainingError,))
    trials = trial_table(study)
    outcome = {"dataset": dataset, "model": model, "study": name, "searched": True, **summary(study),
               "seconds": round(float(trials["seconds"].sum()), 1)}
    write_study(out, outcome, trials)
    journal_path.unlink()


def unsearched(dataset: str, model: str, name: str, default: dict[str, float]) -> dict[str, object]:
    """The outcome of a study not run (tune.enabled false): the default setting, no trial."""
    return {"dataset": dataset, "model": model, "study": name, "searched": False, "trials": 0, "completed": 0,
            "pruned": 0, "failed": 0, "best_trial": None, "best_valid_NDCG@10": None,
            "default_valid_NDCG@10": None, "best": default, "default": default, "seconds": 0.0}
