"""reports/tuning.md: what each model's hyperparameter study spent and found (stage `tune`).

Every model of the comparison gets one study of the same budget; this page shows, per dataset,
that the budget was the same (trials completed, pruned, failed; seconds), each model's validation
NDCG@10 at its default and at its best setting, and the two settings side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from diffurec.config import TuneConfig
from diffurec.datasets import DATASET_NAMES
from diffurec.report.markdown import DASH, fraction, markdown_table, points
from diffurec.variants import VARIANT_NAMES

TITLE = "# Hyperparameter tuning: the same budget for every model"


def model_name(model: str) -> str:
    """A variant's name (DiffuRec, ...) or a baseline's own name."""
    return VARIANT_NAMES.get(model, model)


def render_tuning(datasets: Sequence[str], models: Sequence[str], outcomes: Mapping[tuple[str, str], dict[str, Any]],
                  tune: TuneConfig) -> str:
    """The page. `outcomes[(dataset, model)]` is a study's best.yaml; a missing one is a study not run."""
    used = ("**in use**: every training and baseline stage trains with its model's tuned setting" if tune.enabled
            else "**not in use** (tune.enabled is false): every model trains at its setting in params.yaml, "
                 "the paper's protocol")
    parts = [
        TITLE,
        "",
        f"One seeded Optuna study per dataset and model, each of {tune.trials} trials: the first at the model's "
        f"setting in params.yaml, the next {tune.random_starts} drawn at random, the rest by TPE (seed "
        f"{tune.seed}), from the ranges of `tune.spaces` in params.yaml. Every trial trains as the default does "
        "(the same epoch cap and patience) and is scored by its best validation NDCG@10; a trial below the "
        "median of the completed trials after an epoch stops there (pruned, from epoch "
        f"{tune.prune_after}). The test items are never read. The tuned settings are {used}.",
        "",
        "A study's value is the best validation NDCG@10 of one training run (the first seed) on the split "
        "without its test items; the selected setting is the best trial's, so it is never below the default's "
        "on validation. That is selection on the validation users: the test scores of the tuned runs are the "
        "evidence of a gain, not this page.",
    ]
    for dataset in datasets:
        studies = {model: outcomes.get((dataset, model)) for model in models}
        parts += ["", f"## {DATASET_NAMES.get(dataset, dataset)}", "", _budget_table(dataset, studies).rstrip("\n"), "",
                  _settings_table(studies)]
    return "\n".join(parts) + "\n"


def _budget_table(dataset: str, studies: Mapping[str, dict[str, Any] | None]) -> str:
    rows = []
    for model, outcome in studies.items():
        if outcome is None:
            rows.append([model_name(model), f"not run: `python -m pipeline tune {dataset} {model}`", *[DASH] * 7])
            continue
        default, best = outcome["default_valid_NDCG@10"], outcome["best_valid_NDCG@10"]
        gain = None if default is None else best - default
        rows.append([
            model_name(model), str(outcome["trials"]), str(outcome["completed"]), str(outcome["pruned"]),
            str(outcome["failed"]), f"{outcome['seconds']:.0f}", fraction(default), fraction(best), points(gain),
        ])
    header = ["Model", "Trials", "Completed", "Pruned", "Failed", "Seconds", "Default valid NDCG@10",
              "Tuned valid NDCG@10", "Gain (points)"]
    return markdown_table(header, "lrrrrrrrr", rows)


def _settings_table(studies: Mapping[str, dict[str, Any] | None]) -> str:
    rows = []
    for model, outcome in studies.items():
        if outcome is None:
            continue
        for key, default in outcome["default"].items():
            tuned = outcome["best"][key]
            rows.append([model_name(model), f"`{key}`", _setting(default), _setting(tuned),
                         "" if tuned == default else "changed"])
    return markdown_table(["Model", "Setting", "Default", "Tuned", ""], "llrrl", rows)


def _setting(value: float) -> str:
    """A setting as a person writes it: whole numbers bare, others to 3 significant digits."""
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"
