"""Hyperparameter search with the same budget for every model: one seeded Optuna study each.

A study runs `trials` trials: the first is the model's default setting (so the tuned setting is
never worse on validation than the default), the next `random_starts` are drawn at random, the
rest by TPE (the protocol of Ferrari Dacrema et al.'s reproducibility studies: Bayesian search
with about a third random starts). Each trial trains with the default's recipe (epoch cap,
patience) and reports its validation NDCG@10 after every validated epoch to a median pruner; its
value is its best validation NDCG@10. The caller's objective decides what training means and
never sees the test items.

Resumable and deterministic: the study lives in the caller's Optuna storage. The sampler of the
k-th finished trial is seeded from (seed, k), so a study killed and resumed draws the same
settings as one that ran through; a trial cut off by the kill is marked failed and not counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState
from tqdm import tqdm

from diffurec.config import SearchRange

# report(epoch, validation NDCG@10): raises optuna.TrialPruned when the pruner stops the trial.
Report = Callable[[int, float], None]
# objective(setting, report) -> the trial's best validation NDCG@10.
Objective = Callable[[dict[str, float], Report], float]

# A failed trial that spent budget (e.g. its training diverged) records why under this key; a trial
# cut off by an interrupted process fails without it and is not counted.
FAILED = "failed"


@dataclass(frozen=True)
class Budget:
    """What every study of a comparison gets alike (params.yaml `tune`)."""

    trials: int
    random_starts: int
    seed: int
    prune_after: int


def without_test(split: pd.DataFrame) -> pd.DataFrame:
    """The split a study may see: each user's test item replaced by the validation item, which
    stands in the slot a leave-one-out reader expects and which nothing ranks. Training and
    validation are the split's own; the test items are never read after this."""
    return split.assign(test=split["valid"])


def suggest(trial: optuna.Trial, space: dict[str, SearchRange]) -> dict[str, float]:
    """Draw one setting of `space` for `trial`, in the space's order."""
    setting = {}
    for name, search in space.items():
        if search.choices:
            setting[name] = trial.suggest_categorical(name, list(search.choices))
        elif search.integer:
            setting[name] = trial.suggest_int(name, int(search.low), int(search.high), log=search.log)
        else:
            setting[name] = trial.suggest_float(name, search.low, search.high, log=search.log)
    return setting


def _spent(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials that count against the budget, in order."""
    return [t for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or FAILED in t.user_attrs]


def _seed_for(seed: int, finished: int) -> int:
    return int(np.random.SeedSequence([seed, finished]).generate_state(1)[0])


def _close_interrupted(study: optuna.Study) -> None:
    """Fail every trial a killed process left running (one run at a time uses a study)."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)


def run_study(
    storage: optuna.storages.BaseStorage,
    name: str,
    space: dict[str, SearchRange],
    default: dict[str, float],
    objective: Objective,
    budget: Budget,
    catch: tuple[type[Exception], ...] = (),
    progress: bool = True,
) -> optuna.Study:
    """Run (or resume) study `name` in `storage` until `budget.trials` trials have finished.

    `default` is the model's setting in params, tried first. An exception in `catch` fails its
    trial, which still spends budget, instead of ending the study; any other one ends the study
    and its trial is tried again on resuming."""
    optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=budget.prune_after)
    with tqdm(total=budget.trials, desc=f"study {name}", unit="trial", disable=not progress) as bar:
        while True:
            study = optuna.load_study(study_name=name, storage=storage, pruner=pruner)
            _close_interrupted(study)
            finished = len(_spent(study))
            bar.update(finished - bar.n)
            if finished >= budget.trials:
                return study
            # A new sampler per trial, seeded by how many trials came before: see the module's doc.
            study.sampler = optuna.samplers.TPESampler(n_startup_trials=1 + budget.random_starts,
                                                       seed=_seed_for(budget.seed, finished))
            waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
            if finished == 0 and not waiting:
                study.enqueue_trial(default)  # Trial 0: the default setting.

            def trial_objective(trial: optuna.Trial) -> float:
                def report(epoch: int, value: float) -> None:
                    trial.report(value, epoch)
                    if trial.should_prune():
                        raise optuna.TrialPruned(f"pruned after epoch {epoch}: validation NDCG@10 {value:.4f}")

                try:
                    return objective(suggest(trial, space), report)
                except catch as error:
                    trial.set_user_attr(FAILED, str(error))
                    raise

            study.optimize(trial_objective, n_trials=1, catch=catch)


TRIAL_COLUMNS = ("trial", "state", "valid_NDCG@10", "epochs", "seconds")


def trial_table(study: optuna.Study | None) -> pd.DataFrame:
    """Every trial that spent budget, in order: number, state, value (best validation NDCG@10;
    a pruned trial's best before it stopped), epochs reported, seconds, then the setting. No
    study (not searched): the columns alone."""
    rows = []
    for trial in _spent(study) if study is not None else []:
        reported = trial.intermediate_values
        value = trial.value if trial.state == TrialState.COMPLETE else max(reported.values(), default=math.nan)
        rows.append({
            "trial": len(rows),
            "state": trial.state.name.lower(),
            "valid_NDCG@10": value,
            "epochs": max(reported, default=0),
            "seconds": (trial.datetime_complete - trial.datetime_start).total_seconds(),
            **trial.params,
        })
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(TRIAL_COLUMNS))


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The completed trial with the highest value, the earliest on ties (so the default wins a tie)."""
    completed = [t for t in _spent(study) if t.state == TrialState.COMPLETE]
    if not completed:
        raise ValueError(f"study {study.study_name!r} has no completed trial")
    return max(completed, key=lambda t: (t.value, -t.number))


def summary(study: optuna.Study) -> dict[str, Any]:
    """The study's outcome as plain values: budget spent, the default's and the best's value and setting."""
    spent = _spent(study)
    best = best_trial(study)
    default = spent[0]
    return {
        "trials": len(spent),
        "completed": sum(t.state == TrialState.COMPLETE for t in spent),
        "pruned": sum(t.state == TrialState.PRUNED for t in spent),
        "failed": sum(t.state == TrialState.FAIL for t in spent),
        "best_trial": spent.index(best),
        "best_valid_NDCG@10": best.value,
        "default_valid_NDCG@10": default.value,
        "best": dict(best.params),
        "default": dict(default.params),
    }
