"""What the verdict judges: one run's results on one dataset, in memory, whoever read them.

The pipeline's verdict stage builds it from the run folders; a report over runs made elsewhere can
build it from its own records. Any part may be missing: `unreadable` says why a part that was asked
for could not be had (a missing file, a run that ranked other users, a setting params did not ask
for), and a part neither present nor listed was not in the run. The claims that need a missing part
are then not testable, with that reason.

Per-user arrays are aligned: every one lists the same users in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from diffurec.metrics import hit_rate, ndcg
from diffurec.report.paper_setup import SetupDifference
from diffurec.variants import VARIANT_NAMES

# The kinds of part, as the first element of an `unreadable` key; the rest names the part.
RANKS = "ranks"  # (RANKS, variant)
ENSEMBLE = "ensemble"  # (ENSEMBLE, variant)
TRAINING = "training"  # (TRAINING, variant)
BASELINE_RUN = "baseline"  # (BASELINE_RUN, name)
ABLATION = "ablation"  # (ABLATION, variant, setting)
HEAD_ITEMS = "head items"  # (HEAD_ITEMS,)
PAPER = "paper"  # (PAPER,): the paper's printed numbers
# The two inference ablations the verdict reads (C8b), as `ablations` keys.
ONE_STEP = "1 step"
ZERO_XT = "x_t = 0"


@dataclass(frozen=True)
class Training:
    """Per seed, in `seeds` order: seconds of training until the best validation epoch, that epoch,
    and whether early stopping (not the epoch cap) ended the run."""

    time_to_best_s: tuple[float, ...]
    best_epoch: tuple[int, ...]
    stopped_early: tuple[bool, ...] = ()

    @property
    def capped(self) -> int:
        """How many runs ended at the epoch cap: their time to the best epoch is censored."""
        return sum(not stopped for stopped in self.stopped_early)


@dataclass(frozen=True)
class BaselineRanks:
    """A re-run baseline's test ranks [U], and whether early stopping (not its epoch budget) ended it."""

    ranks: np.ndarray
    converged: bool


@dataclass(frozen=True)
class DatasetEvidence:
    dataset: str
    seeds: tuple[int, ...]
    # variant -> test ranks [seeds, users] (1 = best), seeds in `seeds` order.
    ranks: Mapping[str, np.ndarray] = field(default_factory=dict)
    # variant -> the ensemble's (Algorithm 3) test ranks [users].
    ensembles: Mapping[str, np.ndarray] = field(default_factory=dict)
    training: Mapping[str, Training] = field(default_factory=dict)
    # The re-run baselines the run asked for, in its order, read or not; `baselines`: those read.
    baseline_names: tuple[str, ...] = ()
    baselines: Mapping[str, BaselineRanks] = field(default_factory=dict)
    # variant -> ONE_STEP or ZERO_XT -> test ranks [seeds, users] of the trained models so run.
    ablations: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    # Per user: is the test item a head item (paper section 6.5)? None: not known.
    head: np.ndarray | None = None
    # What `ensembles` hold (eval.ensemble): "runs", every seed's model; "inference", the first
    # seed's model over every seed's draws.
    ensemble_mode: str = "runs"
    # How the run's params differ from the paper's section 6.2; empty: at the paper's configuration.
    setup_differences: tuple[SetupDifference, ...] = ()
    # A part asked for but not had -> why, e.g. (RANKS, "v1") -> "runs/eval/...: not found; ...".
    unreadable: Mapping[tuple[str, ...], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        users = {a.shape[-1] for a in self._user_arrays()}
        if len(users) > 1:
            raise ValueError(f"{self.dataset}: per-user arrays cover different numbers of users {sorted(users)}")
        per_seed = [*self.ranks.values(), *(r for settings in self.ablations.values() for r in settings.values())]
        if any(ranks.shape[0] != len(self.seeds) for ranks in per_seed):
            raise ValueError(f"{self.dataset}: every per-seed rank array must have one row per seed of {self.seeds}")

    def reason(self, *part: str) -> str:
        """Why `part` is missing: what `unreadable` says, else that the run does not have it."""
        if part in self.unreadable:
            return self.unreadable[part]
        kind, *names = part
        name = VARIANT_NAMES.get(names[0], names[0]) if names else ""
        return {
            RANKS: f"{name} is not in this run (params variants)",
            ENSEMBLE: f"no ensemble of {name} in this run",
            TRAINING: f"no training record of {name} in this run",
            BASELINE_RUN: f"{name} is not in this run (params baselines)",
            ABLATION: f"no '{names[-1]}' ablation of {name} in this run (params ablation)",
            HEAD_ITEMS: "the head items of this dataset are not known",
            PAPER: "the paper's printed numbers were not read",
        }[kind]

    def _user_arrays(self) -> list[np.ndarray]:
        arrays = [*self.ranks.values(), *self.ensembles.values(), *(b.ranks for b in self.baselines.values())]
        arrays += [r for settings in self.ablations.values() for r in settings.values()]
        return arrays + ([] if self.head is None else [self.head])


def metric_values(ranks: np.ndarray, metric: str) -> np.ndarray:
    """Per-user `metric` ("HR@k" or "NDCG@k") of ranks of any shape, float64 of the same shape."""
    name, k = metric.split("@")
    return {"HR": hit_rate, "NDCG": ndcg}[name](np.asarray(ranks), int(k))


def user_metric(ranks: np.ndarray, metric: str) -> np.ndarray:
    """Per-user `metric` of ranks [users], or of ranks [seeds, users] averaged over the seeds (as
    Table 4c pairs users): float64 [users]."""
    values = metric_values(ranks, metric)
    return values if values.ndim == 1 else values.mean(axis=0)


def seed_metric(ranks: np.ndarray, metric: str) -> np.ndarray:
    """`metric` over users (the plain mean), one value per seed of ranks [seeds, users]: float64 [seeds]."""
    return metric_values(ranks, metric).mean(axis=1)
