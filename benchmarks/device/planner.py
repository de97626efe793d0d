"""What runs next within a budget, from the ledger: what identifies a queued run across calls (its
spec), what it must get through before it counts as measured (its workload), how long that should
take (from the ledger's timings), and whether to start it now.

The rule: a run is skipped when a ledger file already holds it settled (finished; for E3, cut by
the budget after the earliest epoch its early stopping could have ended it), under whatever
experiment it ran (E4/paper-recipe is the grid's Beauty seed-0 DiffuRec run); otherwise the first
run a call meets always starts, and every later one only when its predicted time fits in what is
left of the budget. The prediction comes from timings in the ledger (the run's own earlier
records, else runs of the same recipe); a run with no timing to go by starts anyway. A budget
alarm cuts whatever runs when the budget is spent; the ledger is rewritten after every epoch, so
a cut run keeps its finished epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common import load_raw
from device import ROOT
from device.experiments import Experiment, Run, profile_config
from device.ledger import median_s

from diffurec.config import Config, TrainConfig
from diffurec.train import validates_after
from pipeline.recbole_runner import recbole_default


def spec(experiment: Experiment, run: Run, dataset: str, extra: list[str]) -> dict[str, Any]:
    """What identifies a run across calls: a ledger record counts for a queued run only when
    every field is equal (so a changed override never passes for a measured one)."""
    ours = run.kind == "ours"
    return {"experiment": experiment.id, "run": run.name, "kind": run.kind, "dataset": dataset,
            "variant": run.variant, "seed": run.seed, "recipe": "official code" if run.kind == "official" else run.profile,
            "overrides": [*run.overrides, *extra] if ours else [], "args": list(run.args)}


def raw_config(run: Run, dataset: str, extra: list[str]) -> dict[str, Any]:
    raw = load_raw(ROOT / run.profile, [*run.overrides, *extra])
    raw.update(datasets=[dataset], variants=[run.variant], seeds=[run.seed])
    return raw


def validation_epochs(train: TrainConfig) -> list[int]:
    """The epochs after which `fit` validates, by its own rule."""
    return [epoch for epoch in range(1, train.epochs + 1) if validates_after(epoch, train)]


def official_arg(args: tuple[str, ...] | list[str], name: str, default: str) -> str:
    args = list(args)
    return args[args.index(name) + 1] if name in args else default


@dataclass(frozen=True)
class Workload:
    """What a run must get through before it counts as measured: `epochs` training epochs,
    `validations` validations and `tests` test rankings (for a `cut_settles` run, up to its
    earliest possible early stop, `settling_epochs`); it is set to train `planned_epochs`."""

    epochs: int
    validations: int
    tests: int
    settling_epochs: int
    planned_epochs: int


def workload(run: Run, dataset: str, extra: list[str]) -> Workload:
    if run.kind == "official":
        epochs = int(official_arg(run.args, "--epochs", "500"))
        every = int(official_arg(run.args, "--eval_interval", "20"))
        # The official loop validates after its 0-based epoch e when e != 0 and e % every == 0.
        validations = sum(1 for e in range(1, epochs) if e % every == 0)
        return Workload(epochs, validations, 1, epochs, epochs)
    if run.kind == "recbole":
        # Validated after every epoch (RecBole's eval_step 1), its time counted in the epoch's;
        # planned for its whole epoch budget, since when early stopping will end it is unknown.
        model = profile_config(run.profile).recbole.models[run.variant]
        epochs = model.epochs or recbole_default(model.model, "epochs")
        return Workload(epochs, 0, 1, epochs, epochs)
    train = Config.from_dict(raw_config(run, dataset, extra)).train
    at = validation_epochs(train)
    # Early stopping ends a run at the earliest after the first validation (always an
    # improvement) and `patience` more without one.
    settling = at[train.patience] if run.cut_settles and 0 < train.patience < len(at) else train.epochs
    validations = len([e for e in at if e <= settling])
    return Workload(settling, validations, 1 + (validations if run.test_each_validation else 0), settling, train.epochs)


def predict_s(run_spec: dict[str, Any], work: Workload, records: list[dict[str, Any]],
              card_name: str | None = None) -> float | None:
    """Seconds the run should take, from timings of earlier records (oldest first): the median of
    the same run's where there are any, else the latest of a run of the same kind, dataset and
    recipe (its overrides may differ, so no mixing of several). None when a part is unknown.
    Given the card it will run on, a record timed on the other kind of processor (CPU against
    GPU) is left out: the ledger holds CPU calls too, and their seconds say nothing of a GPU's."""
    timed = [r for r in records if r.get("timing") and not _other_processor(r.get("card"), card_name)]
    same = [r for r in timed if same_run(r["spec"], run_spec)]
    alike = [r for r in timed if all(r["spec"][key] == run_spec[key] for key in ("kind", "dataset", "recipe"))]
    parts = {}
    for part in ("setup_s", "epoch_s", "valid_s", "test_s"):
        # Part by part: a cut record of the run itself may lack the test time its siblings have.
        own = [r["timing"][part] for r in same if r["timing"].get(part) is not None]
        latest = [r["timing"][part] for r in alike if r["timing"].get(part) is not None][-1:]
        parts[part] = median_s(own or latest)
    needed = {"setup_s": True, "epoch_s": work.epochs > 0, "valid_s": work.validations > 0, "test_s": work.tests > 0}
    if any(needed[part] and parts[part] is None for part in parts):
        return None
    return (parts["setup_s"] + work.epochs * parts["epoch_s"] + work.validations * (parts["valid_s"] or 0.0)
            + work.tests * (parts["test_s"] or 0.0))


def _other_processor(recorded: str | None, current: str | None) -> bool:
    return recorded is not None and current is not None and (recorded == "cpu") != (current == "cpu")


# What names a run in the queue, not what it computes: a run settled under one experiment's name
# is settled for every other that asks for the same computation.
NAMES = ("experiment", "run")


def same_run(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {k: v for k, v in a.items() if k not in NAMES} == {k: v for k, v in b.items() if k not in NAMES}


def settled_in(run_spec: dict[str, Any], records: list[dict[str, Any]]) -> str | None:
    """The ledger file of the first record that settles the run, or None."""
    return next((r["ledger"] for r in records if same_run(r["spec"], run_spec) and r.get("settled")), None)


@dataclass(frozen=True)
class Decision:
    start: bool
    reason: str
    predicted_s: float | None = None


def decide(run_spec: dict[str, Any], work: Workload, records: list[dict[str, Any]], left_s: float,
           first: bool, card_name: str | None = None) -> Decision:
    """Whether to start a queued run now on `card_name` (see the module's docstring for the rule)."""
    if (ledger := settled_in(run_spec, records)) is not None:
        return Decision(False, f"settled in {ledger}")
    predicted = predict_s(run_spec, work, records, card_name)
    if first:
        return Decision(True, "the first run of the call always starts", predicted)
    if predicted is None:
        return Decision(True, "no timing to predict it from", None)
    if predicted > left_s:
        return Decision(False, f"needs ~{predicted:.0f} s, {left_s:.0f} s left", predicted)
    return Decision(True, f"needs ~{predicted:.0f} s, {left_s:.0f} s left", predicted)


def plan_state(run: Run, run_spec: dict[str, Any], records: list[dict[str, Any]], extra: list[str]) -> str:
    """What a call would do with a queued run, as `plan` prints it: settled, or to run (with its
    predicted seconds where the ledger has timings), or not startable and why."""
    if (ledger := settled_in(run_spec, records)) is not None:
        return f"settled in {ledger}"
    try:
        predicted = predict_s(run_spec, workload(run, run.dataset, extra), records)
    except Exception as error:  # noqa: BLE001 - `run` would record this run as not started, and go on
        return f"not startable, {type(error).__name__}: {error}"
    return "to run" + ("" if predicted is None else f", ~{predicted:.0f} s")
