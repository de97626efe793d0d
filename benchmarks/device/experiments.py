"""The device queue: the decisive fidelity experiments, then the paper's grid, in the order a call
meets them. Each experiment asks one question and names the runs that answer it.

The fidelity experiments, in the order of how much each decides per second of device time
(estimates for an H100 from docs/benchmarks.md), then the grid:

  E2  The official code itself, 11 epochs with one validation (~4-5 min, its 18.4 s epochs
      dominate), and ours under profiles/official.yaml for the same epochs (~1 min): does the
      official code's test also sit ~26% below its validation? Settles whether our gap between
      validation and test is the split's or our code's.
  E1  profiles/paper.yaml for 120 epochs, lr decay at 100, validated and tested every 10 epochs
      (~4 min): does test NDCG@10 keep rising past the paper's epoch 41?
  E3  profiles/official.yaml to its early stop, or the budget: baseline, then v1, then v2 (each
      ~7 min or more). Whether the official recipe reaches the published numbers with our code
      (the paper's three models: published numbers exist for no other).
  E4  One factor at a time on the paper recipe, 41 epochs (~1.5 min each): the paper recipe
      unchanged (E4/paper-recipe, the reference of the others; not the control model),
      weight decay 0, batch 512, shuffled batching, the official network's switches together.
  G-<dataset>  The paper's grid: profiles/paper.yaml (41 epochs, validated every 5 as E4), every
      model of a seed (the paper's three and the control without diffusion) before the next
      seed; Beauty seeds 2-4 first (seeds 0-1 ran on 2026-11-27, before the ledger; they follow),
      then Toys, then ML-1M (~7 min a run there).
  B-<dataset>  After each dataset's grid, the paper profile's RecBole baselines on it, for Table 5:
      RecBole's defaults (up to 300 epochs, early stopping), as the pipeline's baselines stage
      runs them. One short of time stops after a validation and is tested at its best epoch; it
      is settled (not converged) only when it had the whole call, else a later call reruns it.

Every E run is Beauty, seed 0, baseline unless named. Every run of ours and every baseline keeps
its per-user test ranks in the ledger, so `reproduction` renders Tables 2-5 and the per-user
tests from it.

To add an experiment, add an `Experiment` to FIDELITY (its place there is its place in the queue)
with a new id, its question and its runs: a profile with overrides for ours, the command-line
arguments for the official code, or a baseline of a profile for RecBole; and its id to the list
tests/test_device_planner.py expects. `python benchmarks/device_queue.py plan` then lists it, and
the next device call runs it where it fits: the planner, the runners and the ledger take any run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from common import load_raw
from device import ROOT

from diffurec.config import Config
from diffurec.datasets import DATASET_NAMES
from diffurec.errors import ConfigError
from diffurec.variants import BASELINE, PAPER_VARIANTS, VARIANTS


@dataclass(frozen=True)
class Run:
    """One training run of an experiment: ours (a profile with overrides), the official code, or a
    RecBole baseline of a profile (kind "recbole": `variant` names the baseline, a key of the
    profile's recbole.models, and `seed` is its recbole.seed)."""

    name: str
    kind: Literal["ours", "official", "recbole"] = "ours"
    # Its split is <splits>/<dataset>.parquet; the official code reads its own Beauty pickle.
    dataset: str = "amazon-beauty"
    profile: str = "profiles/paper.yaml"
    variant: str = BASELINE
    seed: int = 0
    overrides: tuple[str, ...] = ()
    # The official code's command-line arguments (kind "official").
    args: tuple[str, ...] = ()
    # Rank the test users too at every validation (the model as it is then), not only at the end.
    test_each_validation: bool = False
    # A run that trains to its early stop "or the budget": cut after its earliest possible stop
    # it still counts as measured, and is not started again by a later call.
    cut_settles: bool = False


@dataclass(frozen=True)
class Experiment:
    id: str
    question: str
    runs: tuple[Run, ...]


OFFICIAL_SWITCHES = ("model.norm=pre", "model.activation=gelu_tanh", "model.positional=false", "model.mask=queries",
                     "model.x0=embedding", "model.reverse_noise=official", "model.ffn_dropout=true",
                     "model.block_dropout=true", "model.init=official", "model.norm_eps=1.0e-12",
                     "model.padding_class=true")
# The paper recipe's runs rank with 4,096 users a batch instead of 256: metrics average over users
# there, so the batch only changes the reverse-noise draws, and a validation costs ~1 s, not ~10.
PAPER_EVAL = ("eval.batch_size=4096",)
# E4 validates every 5 epochs as the earlier device runs of the paper recipe did (docs/reproduction-2026-11-27.md).
E4_BASE = (*PAPER_EVAL, "train.eval_every=5")

FIDELITY: tuple[Experiment, ...] = (
    Experiment("E2", "Does the official code's test also sit ~26% below its validation?", (
        Run("official-code", kind="official",
            args=("--dataset", "amazon_beauty", "--device", "cuda", "--random_seed", "0", "--epochs", "11",
                  "--eval_interval", "10")),
        Run("ours-official-recipe", profile="profiles/official.yaml",
            overrides=("train.epochs=11", "train.eval_every=10", "train.eval_offset=1")),
    )),
    Experiment("E1", "Does test NDCG@10 keep rising past epoch 41 (paper recipe, 120 epochs, decay at 100)?", (
        Run("paper-120-epochs", overrides=(*PAPER_EVAL, "train.epochs=120", "train.lr_decay_epoch=100",
                                           "train.eval_every=10"), test_each_validation=True),
    )),
    Experiment("E3", "The official recipe to its early stop (or the budget), every variant.", tuple(
        Run(f"official-recipe-{variant}", profile="profiles/official.yaml", variant=variant, cut_settles=True)
        for variant in PAPER_VARIANTS
    )),
    Experiment("E4", "One factor of the official recipe at a time on the paper recipe (41 epochs).", (
        Run("paper-recipe", overrides=E4_BASE),
        Run("weight-decay-0", overrides=(*E4_BASE, "train.weight_decay=0")),
        Run("batch-512", overrides=(*E4_BASE, "train.batch_size=512")),
        Run("shuffled-batches", overrides=(*E4_BASE, "train.batching=shuffled")),
        Run("official-network", overrides=(*E4_BASE, *OFFICIAL_SWITCHES)),
    )),
)

# Beauty's seeds 0 and 1 of this recipe ran before the ledger existed (docs/reproduction-2026-11-27.md).
GRID_SEEDS = {"amazon-beauty": (2, 3, 4, 0, 1), "amazon-toys-games": (0, 1, 2, 3, 4), "ml-1m": (0, 1, 2, 3, 4)}
GRID_RECIPE = "profiles/paper.yaml"
GRID_OVERRIDES = E4_BASE


def profile_config(profile: str, overrides: tuple[str, ...] = ()) -> Config:
    """A profile with `overrides`; with none, as it stands: what a RecBole baseline of it runs with."""
    return Config.from_dict(load_raw(ROOT / profile, list(overrides)))


def grid(dataset: str, seeds: tuple[int, ...]) -> Experiment:
    """The paper's grid on one dataset, seed by seed: every model of a seed (VARIANTS: the paper's
    three and the control, which Table 4 tests them against) before the next, so a cut call leaves
    whole seeds behind it."""
    question = f"The paper's grid on {DATASET_NAMES[dataset]}: every model, seed by seed."
    return Experiment(f"G-{dataset}", question, tuple(
        Run(f"paper-{variant}-seed{seed}", dataset=dataset, profile=GRID_RECIPE, variant=variant, seed=seed,
            overrides=GRID_OVERRIDES)
        for seed in seeds for variant in VARIANTS
    ))


def baselines(dataset: str) -> Experiment:
    """The grid recipe's RecBole baselines on one dataset, each trained once (its recbole.seed) to
    RecBole's early stop. One that a call cuts is tested at its best epoch so far; it is settled,
    and Table 5 marks it not converged, only when it had the whole call (the call's first run),
    since no later call would give it more time."""
    config = profile_config(GRID_RECIPE)
    question = f"The paper recipe's RecBole baselines on {DATASET_NAMES[dataset]}, at the paper's scale."
    return Experiment(f"B-{dataset}", question, tuple(
        Run(f"recbole-{name}", kind="recbole", dataset=dataset, profile=GRID_RECIPE, variant=name,
            seed=config.recbole.seed)
        for name in config.baselines
    ))


# Each dataset's baselines follow its grid: Table 5 compares them with the grid's models.
QUEUE = FIDELITY + tuple(part for dataset, seeds in GRID_SEEDS.items() for part in (grid(dataset, seeds), baselines(dataset)))


def selected(names: list[str]) -> list[Experiment]:
    """The queue, or the experiments named (in queue order); an unknown name is refused."""
    unknown = set(names) - {e.id for e in QUEUE}
    if unknown:
        raise ConfigError(f"unknown experiment {sorted(unknown)}; choose from {[e.id for e in QUEUE]}")
    return [e for e in QUEUE if not names or e.id in names]


def is_grid_run(record: dict[str, Any]) -> bool:
    """A run of the grid's computation, under whatever experiment it ran (E4/paper-recipe is one)."""
    spec = record["spec"]
    return (spec["kind"] == "ours" and spec["recipe"] == GRID_RECIPE and spec["overrides"] == list(GRID_OVERRIDES)
            and "ranks" in record)


def is_grid_baseline(record: dict[str, Any]) -> bool:
    """A RecBole baseline of the grid's recipe, with its test ranks."""
    spec = record["spec"]
    return spec["kind"] == "recbole" and spec["recipe"] == GRID_RECIPE and "ranks" in record
