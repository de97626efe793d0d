"""The verdict's evidence (diffurec.report.evidence) for one dataset, from what the other stages
wrote: the split (head items), every seed's test ranks, the ensembles, train.json, the re-run
baselines and the inference ablations.

Each part is read on its own: a part that cannot be read (a missing file, a run that ranked other
users) is left out with the reader's error as the reason, so it costs only the claims that need it.
Every per-user part is aligned to one order of the users, the split's (sorted by user id).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from diffurec.config import Config
from diffurec.errors import DataError
from diffurec.report.evidence import (
    ABLATION,
    BASELINE_RUN,
    ENSEMBLE,
    HEAD_ITEMS,
    ONE_STEP,
    RANKS,
    TRAINING,
    ZERO_XT,
    BaselineRanks,
    DatasetEvidence,
)
from diffurec.report.groups import HEAD, head_items, popularity_grouping
from diffurec.report.paper_setup import setup_differences
from diffurec.report.popularity import popularity_scores
from diffurec.sequences import encode
from diffurec.variants import find_variant
from pipeline import layout
from pipeline.files.data_tables import read_split
from pipeline.files.run_results import read_baseline, read_ranks, read_training

T = TypeVar("T")
# The ablation settings the verdict reads, as params' `ablation` runs them: (steps, x_t zeroed),
# and why one is absent when params do not ask for it.
ABLATION_SETTINGS = {
    ONE_STEP: ((1, False), "params ablation.steps does not list 1"),
    ZERO_XT: ((None, True), "params ablation.zero_xt is false"),
}


def read_evidence(
    runs: Path, data: Path, config: Config, dataset: str, unreadable: Mapping[tuple[str, ...], str]
) -> DatasetEvidence:
    """Everything `config` asks for on `dataset`; `unreadable`: parts already known to be missing
    (e.g. the paper's numbers), kept with their reasons."""
    parts = _Parts(dict(unreadable))
    head = parts.read((HEAD_ITEMS,), lambda: parts.aligned(_head_targets(data, dataset, config), "the split"))
    ranks, ensembles, training, ablations = {}, {}, {}, {}
    for variant in config.variants:
        ranks[variant] = parts.read(
            (RANKS, variant), lambda: parts.aligned(_seed_ranks(runs, dataset, variant, config), f"{variant}'s runs")
        )
        path = layout.ensemble_dir(dataset, variant, runs) / "ranks.parquet"
        ensembles[variant] = parts.read(
            (ENSEMBLE, variant), lambda: parts.aligned(read_ranks(path, "ensemble"), f"{variant}'s ensemble")
        )
        training[variant] = parts.read((TRAINING, variant), lambda: read_training(runs, dataset, variant, config.seeds))
        if find_variant(variant).diffusion:
            ablations[variant] = _ablations(parts, runs, dataset, variant, config)
    baselines = {name: parts.read((BASELINE_RUN, name), lambda: _baseline(parts, runs, dataset, name))
                 for name in config.baselines}
    return DatasetEvidence(
        dataset=dataset,
        seeds=config.seeds,
        ranks=_present(ranks),
        ensembles=_present(ensembles),
        training=_present(training),
        baseline_names=config.baselines,
        baselines=_present(baselines),
        ablations={variant: _present(settings) for variant, settings in ablations.items()},
        head=head,
        ensemble_mode=config.eval.ensemble,
        setup_differences=setup_differences(config, dataset),
        unreadable=parts.unreadable,
    )


class _Parts:
    """Reads each part on its own, keeping why the ones that fail could not be read, and aligns every
    per-user part to the first one read."""

    def __init__(self, unreadable: dict[tuple[str, ...], str]) -> None:
        self.unreadable = unreadable
        self.users: pd.Index | None = None
        self.first = ""

    def read(self, part: tuple[str, ...], reader: Callable[[], T]) -> T | None:
        """`reader`'s result; None, with the error as the part's reason, when it raises DataError."""
        try:
            return reader()
        except DataError as error:
            self.unreadable[part] = str(error)
            return None

    def aligned(self, values: pd.Series | pd.DataFrame, what: str) -> np.ndarray:
        """Per-user `values` indexed by user id (a DataFrame: one column per seed) as an array
        [users] or [seeds, users], refused unless they cover the users of the first part read."""
        if self.users is None:
            self.users, self.first = values.index, what
        elif not values.index.equals(self.users):
            raise DataError(
                f"{what} covers other test users than {self.first}; rerun the stages that wrote them (dvc repro)"
            )
        return values.to_numpy().T


def _present(parts: Mapping[str, T | None]) -> dict[str, T]:
    return {name: part for name, part in parts.items() if part is not None}


def _head_targets(data: Path, dataset: str, config: Config) -> pd.Series:
    """Per user (sorted by id): is the test item a head item, as the case study groups users."""
    split = encode(read_split(layout.split_file(dataset, data)))
    head = head_items(popularity_scores(split.train, split.n_items).numpy(), config.analysis.head_fraction)
    grouping = popularity_grouping(split.test, head)
    labels = np.asarray(grouping.labels)[grouping.groups]
    return pd.Series(labels == HEAD, index=split.users).sort_index()


def _seed_ranks(runs: Path, dataset: str, variant: str, config: Config, column: str = "rank") -> pd.DataFrame:
    """Every seed's test ranks of `variant` (the evaluate stage's, or the ablation stage's setting
    `column`), one column per seed, users sorted; refused unless every seed ranked the same users."""
    stage, folder = ("evaluate", layout.eval_dir) if column == "rank" else ("ablation", layout.ablation_dir)
    per_seed = []
    for seed in config.seeds:
        path = folder(dataset, variant, seed, runs) / "ranks.parquet"
        ranks = read_ranks(path, stage, column)
        if per_seed and not ranks.index.equals(per_seed[0].index):
            raise DataError(f"{path}: ranks other test users than seed {config.seeds[0]}; rerun the {stage} stage")
        per_seed.append(ranks)
    return pd.concat(per_seed, axis=1)


def _ablations(
    parts: _Parts, runs: Path, dataset: str, variant: str, config: Config
) -> dict[str, np.ndarray | None]:
    """ONE_STEP and ZERO_XT of `variant`, each [seeds, users], where params' `ablation` runs them."""
    settings = config.ablation.settings()
    found = {}
    for key, (setting, absent) in ABLATION_SETTINGS.items():
        name = next((name for name, value in settings.items() if value == setting), None)
        if name is None:
            parts.unreadable[ABLATION, variant, key] = absent
            continue
        found[key] = parts.read((ABLATION, variant, key), lambda: parts.aligned(
            _seed_ranks(runs, dataset, variant, config, name), f"{variant}'s {key} ablation"))
    return found


def _baseline(parts: _Parts, runs: Path, dataset: str, name: str) -> BaselineRanks:
    run, _ = read_baseline(runs, dataset, name, ())
    ranks = read_ranks(layout.baseline_dir(dataset, name, runs) / "ranks.parquet", "baselines")
    return BaselineRanks(parts.aligned(ranks, name), run.converged)
