"""The device queue: the decisive fidelity experiments, then the paper's grid, one prioritized
queue per device call, with a ledger under docs/ledger/ that accumulates across calls, so a later
lease continues where an earlier one stopped.

The queue, the fidelity experiments in the order of how much each decides per second of device
time (estimates for an H100 from docs/benchmarks.md), then the grid:

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
Planning: a run is skipped when a ledger file already holds it settled (finished; for E3, cut by
the budget after the earliest epoch its early stopping could have ended it), under whatever
experiment it ran (E4/paper-recipe is the grid's Beauty seed-0 DiffuRec run); otherwise the first
run this call meets always starts, and every
later one only when its predicted time fits in what is left of the budget. The prediction comes
from timings in the ledger (the run's own earlier records, else runs of the same recipe); a run
with no timing to go by starts anyway. A budget alarm cuts whatever runs when the budget is
spent; the ledger is rewritten after every epoch, so a cut run keeps its finished epochs.

1. Here (CPU), once: `python benchmarks/gpu_reproduction.py prepare --mirror ../shared/datasets/recbole-mirror`
   builds .device/split/ (Beauty, Toys, ML-1M), copies the official code into .device/anchors/
   and RecBole, which the device machine lacks, into .device/site/.
2. On the device machine, with `carry: [".device"]` (see docs/benchmarks.md for the full line):

       PYTHONPATH=.:.device/site python3 benchmarks/device_queue.py run --out $OUT --budget 480 2>&1 | tee $OUT/log.txt

`python benchmarks/device_queue.py plan` lists the queue here (CPU) as the ledger leaves it: what
a call would skip as settled, and what it would still run.

3. Here: `python benchmarks/device_queue.py ingest FILES_AT` copies the call's ledger file and
   its raw log into docs/ledger/ (never over an existing file), and
   `python benchmarks/device_queue.py report` renders every ledger file's fidelity experiments as
   Markdown tables (docs/fidelity.md), `reproduction` the grid as docs/reproduction.md.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import torch
import typer
import yaml
from common import load_raw
import grid_report
from gpu_reproduction import ROOT, BudgetExceeded, Journal, alarm, copy_anchors, log, machine, sha256

from diffurec.config import Config, TrainConfig
from diffurec.datasets import DATASET_NAMES
from diffurec.errors import ConfigError, DataError
from diffurec.inference import rank_targets
from diffurec.metrics import summarize
from diffurec.sequences import encode, evaluation_windows
from diffurec.train import TrainState, build_model, fit, validates_after
from diffurec.variants import BASELINE, PAPER_VARIANTS, VARIANTS
from pipeline import layout
from pipeline.app import main
from pipeline.files.atomic_write import write_json, write_text, write_with
from pipeline.files.checkpoint import save_model
from pipeline.files.paper_tables import PAPER_TABLES, load_paper_tables
from pipeline.files.data_tables import read_split
from pipeline.files.run_results import read_json, read_ranks
from pipeline.recbole_runner import Validation, recbole_default, run_baseline
from pipeline.stages.evaluate import evaluate

LEDGER = ROOT / "docs" / "ledger"
SPLITS = Path(".device/split")
ANCHOR_COPY = Path(".device/anchors/diffurec-official")
FORMAT = 1
METRICS = ("HR@5", "NDCG@5", "HR@10", "NDCG@10", "HR@20", "NDCG@20")


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


def profile_config(profile: str) -> Config:
    """A profile as it stands, no overrides: what a RecBole baseline of it runs with."""
    return Config.from_dict(load_raw(ROOT / profile, []))


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

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help=__doc__.split("\n\n")[0])


# ---------------------------------------------------------------------------------------------
# Run specifications and how long they take


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


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


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
        parts[part] = _median(own or latest)
    needed = {"setup_s": True, "epoch_s": work.epochs > 0, "valid_s": work.validations > 0, "test_s": work.tests > 0}
    if any(needed[part] and parts[part] is None for part in parts):
        return None
    return (parts["setup_s"] + work.epochs * parts["epoch_s"] + work.validations * (parts["valid_s"] or 0.0)
            + work.tests * (parts["test_s"] or 0.0))


def _other_processor(recorded: str | None, current: str | None) -> bool:
    return recorded is not None and current is not None and (recorded == "cpu") != (current == "cpu")


def settled(record: dict[str, Any]) -> bool:
    return bool(record.get("settled"))


# What names a run in the queue, not what it computes: a run settled under one experiment's name
# is settled for every other that asks for the same computation.
NAMES = ("experiment", "run")


def same_run(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {k: v for k, v in a.items() if k not in NAMES} == {k: v for k, v in b.items() if k not in NAMES}


@dataclass(frozen=True)
class Decision:
    start: bool
    reason: str
    predicted_s: float | None = None


def settled_in(run_spec: dict[str, Any], records: list[dict[str, Any]]) -> str | None:
    """The ledger file of the first record that settles the run, or None."""
    return next((r["ledger"] for r in records if same_run(r["spec"], run_spec) and settled(r)), None)


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


def read_ledger(folder: Path) -> list[dict[str, Any]]:
    """Every run record of every ledger file in `folder`, each with the file's name under "ledger"."""
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            ledger = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: not valid JSON ({error}); restore it from git") from error
        if ledger.get("format") != FORMAT:
            raise DataError(f"{path}: not a ledger file of format {FORMAT}")
        for experiment in ledger["experiments"]:
            for record in experiment["runs"]:
                records.append({**record, "ledger": path.name, "call": ledger["call"]})
    return records


# ---------------------------------------------------------------------------------------------
# The ledger file of one call


def code_sha256() -> str:
    """One hash of the model and pipeline code a call ran (the device copy has no git); `report`
    says for each ledger file whether today's code still hashes the same."""
    digest = hashlib.sha256()
    for path in sorted([*(ROOT / "diffurec").rglob("*.py"), *(ROOT / "pipeline").rglob("*.py")]):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def card() -> str:
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def ledger_name(started: datetime.datetime, card_name: str) -> str:
    """`<UTC time>-<card>`, e.g. 2026-11-30T120501Z-nvidia-h200."""
    slug = re.sub(r"[^a-z0-9]+", "-", card_name.lower()).strip("-")
    return f"{started:%Y-%m-%dT%H%M%SZ}-{slug}"


@dataclass
class Ledger(Journal):
    """One call's ledger file; the budget's clock is Journal's (its `left` keeps PACKING_S free)."""

    name: str = ""

    @property
    def file(self) -> Path:
        return self.out / f"{self.name}.json"

    def claim(self) -> None:
        """Create the file, refusing one that exists: a ledger file is never overwritten."""
        self.out.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.file, "x"):
                pass
        except FileExistsError:
            raise DataError(f"{self.file}: exists; a ledger file is never overwritten") from None
        self.save()

    def save(self) -> None:
        self.results["call"]["wall_s"] = round(time.perf_counter() - self.started, 1)
        write_json(self.file, self.results)


# ---------------------------------------------------------------------------------------------
# Running the queue


@app.command("plan")
def plan_command(
    ledger: Annotated[Path, typer.Option(help="Ledger folder whose settled runs a call would skip.")] = LEDGER,
    experiment: Annotated[list[str], typer.Option(help="List only these experiments (repeatable), e.g. G-ml-1m.")] = [],
    set_: Annotated[list[str], typer.Option("-S", "--set", help="Override for every run of ours, as for `run`.")] = [],
) -> None:
    """List the queue in order as the ledger leaves it: per run, settled (skipped) or to run, with
    its predicted seconds where the ledger has timings (CPU; nothing is run)."""
    records = read_ledger(ledger) if ledger.is_dir() else []
    for entry in _selected(experiment):
        for run in entry.runs:
            run_spec = spec(entry, run, run.dataset, set_)
            print(f"{entry.id}/{run.name}: {run.dataset}, {run.variant}, seed {run.seed}; "
                  f"{_plan_state(run, run_spec, records, set_)}")


def _selected(experiment: list[str]) -> list[Experiment]:
    """The queue, or the experiments named (in queue order); an unknown name is refused."""
    unknown = set(experiment) - {e.id for e in QUEUE}
    if unknown:
        raise ConfigError(f"unknown experiment {sorted(unknown)}; choose from {[e.id for e in QUEUE]}")
    return [e for e in QUEUE if not experiment or e.id in experiment]


def _plan_state(run: Run, run_spec: dict[str, Any], records: list[dict[str, Any]], extra: list[str]) -> str:
    if (ledger := settled_in(run_spec, records)) is not None:
        return f"settled in {ledger}"
    try:
        predicted = predict_s(run_spec, workload(run, run.dataset, extra), records)
    except Exception as error:  # noqa: BLE001 - `run` would record this run as not started, and go on
        return f"not startable, {type(error).__name__}: {error}"
    return "to run" + ("" if predicted is None else f", ~{predicted:.0f} s")


@app.command("run")
def run_command(
    out: Annotated[Path, typer.Option(help="Folder that receives this call's ledger file (the device's $OUT).")],
    splits: Annotated[Path, typer.Option(help="Folder of <dataset>.parquet split tables from `gpu_reproduction.py prepare`.")]
    = SPLITS,
    anchors: Annotated[Path, typer.Option(help="The copy of the official code `prepare` made.")] = ANCHOR_COPY,
    budget: Annotated[float, typer.Option(help="Seconds for the whole call.")] = 480.0,
    ledger: Annotated[Path, typer.Option(help="Ledger folder whose settled runs are skipped.")] = LEDGER,
    experiment: Annotated[list[str], typer.Option(help="Run only these experiments (repeatable), e.g. E4.")] = [],
    set_: Annotated[list[str], typer.Option("-S", "--set", help="Override for every run of ours, e.g. -S eval.device=cpu.")] = [],
    workdir: Annotated[Path | None, typer.Option(help="Where runs are written. Default: a temporary folder.")] = None,
) -> None:
    """Run the queue within BUDGET seconds, skipping what the ledger holds settled (GPU)."""
    queue = _selected(experiment)
    tables = {path.stem: path for path in sorted(splits.glob("*.parquet"))}
    if not tables:
        raise DataError(f"{splits}: no split tables; run `python benchmarks/gpu_reproduction.py prepare` first")
    records = read_ledger(ledger) if ledger.is_dir() else []
    now = datetime.datetime.now(datetime.timezone.utc)
    book = Ledger(out.resolve(), budget, name=ledger_name(now, card()))
    info = machine()
    book.results.update(format=FORMAT, call={
        "ledger": book.name, "started_utc": now.isoformat(timespec="seconds"), "command": " ".join(sys.argv),
        "budget_s": budget, "card": card(), "torch": torch.__version__, "machine": info,
        "splits": {name: sha256(path) for name, path in tables.items()}, "code_sha256": code_sha256(),
        "log": f"{book.name}.log",
    }, experiments=[])
    book.claim()
    log(f"ledger {book.file}; {len(records)} earlier records in {ledger}")
    work = workdir or Path(tempfile.mkdtemp(prefix="fidelity-queue-"))
    encoded: dict[str, Any] = {}
    started_any = False
    try:
        with alarm(book.left()):
            for entry in queue:
                section = {"id": entry.id, "question": entry.question, "runs": [], "not_started": []}
                book.results["experiments"].append(section)
                for run in entry.runs:
                    run_spec = spec(entry, run, run.dataset, set_)
                    if run.kind != "official" and run.dataset not in tables:
                        section["not_started"].append({"run": run.name, "reason": f"no {run.dataset}.parquet in {splits}"})
                        continue
                    try:
                        work_of = workload(run, run.dataset, set_)
                    except Exception as error:  # noqa: BLE001 - a bad run's config must not end the queue
                        section["not_started"].append({"run": run.name, "reason": f"{type(error).__name__}: {error}"})
                        log(f"{entry.id}/{run.name}: not started, {type(error).__name__}: {error}")
                        continue
                    decision = decide(run_spec, work_of, records, book.left(), first=not started_any,
                                      card_name=book.results["call"]["card"])
                    if not decision.start:
                        section["not_started"].append({"run": run.name, "reason": decision.reason})
                        log(f"{entry.id}/{run.name}: not started, {decision.reason}")
                        book.save()
                        continue
                    log(f"{entry.id}/{run.name}: starting ({decision.reason})")
                    record = _new_record(run_spec, run, work_of, decision, book, first=not started_any)
                    started_any = True
                    section["runs"].append(record)
                    if run.kind == "ours" and run.dataset not in encoded:
                        encoded[run.dataset] = encode(read_split(tables[run.dataset]))
                    _attempt(entry, run, record, tables.get(run.dataset), anchors, encoded.get(run.dataset), set_,
                             work, book)
                    records.append({**record, "ledger": book.file.name})
    except BudgetExceeded:
        log("budget reached: stopped here")
    finally:
        book.save()
    log(f"done in {book.results['call']['wall_s']:.0f} s: {book.file}")


def _new_record(run_spec: dict[str, Any], run: Run, work: Workload, decision: Decision, book: Ledger,
                first: bool) -> dict[str, Any]:
    return {"spec": run_spec, "status": "running", "settled": False, "cut": False, "first_of_call": first,
            "card": book.results["call"]["card"],
            "torch": torch.__version__, "planned_epochs": work.planned_epochs, "settling_epochs": work.settling_epochs,
            "predicted_s": None if decision.predicted_s is None else round(decision.predicted_s, 1),
            "epochs_finished": 0, "best_epoch": None, "epochs": [], "validations": [], "best_valid": None,
            "test": None, "timing": None, "wall_s": None, "error": None}


def _attempt(entry: Experiment, run: Run, record: dict[str, Any], split: Path | None, anchors: Path, data,
             extra: list[str], work: Path, book: Ledger) -> None:
    """Run one queued run, recording it done, cut (by the budget, which is then re-raised) or
    failed (an error in this run does not stop the queue: the next may still measure)."""
    began = time.perf_counter()
    folder = work / f"{entry.id}-{run.name}"
    try:
        if run.kind == "official":
            _run_official(run, anchors, folder, record, book)
        elif run.kind == "recbole":
            _run_recbole(run, split, folder, record, book)
        else:
            _run_ours(run, raw_config(run, run.dataset, extra), run.dataset, split, data, folder, record, book)
        record["status"] = "cut" if record["cut"] else "done"
    except BudgetExceeded:
        record.update(status="cut", cut=True)
        raise
    except Exception as error:  # noqa: BLE001 - recorded in the ledger, then the queue goes on
        record.update(status="failed", error=f"{type(error).__name__}: {error}")
        log(f"{entry.id}/{run.name}: failed, {record['error']}")
    finally:
        record["wall_s"] = round(time.perf_counter() - began, 1)
        cut = record["status"] == "cut"
        record["settled"] = (
            record["status"] == "done"
            or (cut and run.cut_settles and record["epochs_finished"] >= record["settling_epochs"])
            # A baseline cut although it had the whole call, and tested: no later call gives it more.
            or (cut and run.kind == "recbole" and record["first_of_call"] and record["test"] is not None)
        )
        book.save()
    log(f"{entry.id}/{run.name}: {record['status']} in {record['wall_s']} s, best epoch {record['best_epoch']}, "
        f"test NDCG@10 {(record['test'] or {}).get('NDCG@10')}")


def _rounded(metrics: dict[str, float] | None) -> dict[str, float] | None:
    return None if metrics is None else {key: round(float(value), 6) for key, value in metrics.items()}


def _run_ours(run: Run, raw: dict[str, Any], dataset: str, split: Path, data, folder: Path,
              record: dict[str, Any], book: Ledger) -> None:
    """Train with diffurec.train.fit, recording every epoch as it ends; then test the kept
    checkpoint with the pipeline's evaluate stage (in `folder`, which holds params.yaml, the split
    and runs/ as the stage expects)."""
    began = time.perf_counter()
    config = Config.from_dict(raw)
    record["profile_sha256"] = sha256(ROOT / run.profile)
    write_text(folder / "params.yaml", yaml.safe_dump(raw, sort_keys=False))
    write_with(folder / layout.split_file(dataset), lambda tmp: shutil.copyfile(split, tmp))
    model = build_model(data.n_items, config.model, run.variant, run.seed)
    test_windows = evaluation_windows(data, "test", config.model.max_len) if run.test_each_validation else None
    timing = {"setup_s": None, "epoch_s": None, "valid_s": None, "test_s": None}
    record["timing"] = timing
    setup_s = time.perf_counter() - began
    validated: set[int] = set()

    def on_epoch_end(state: TrainState) -> None:
        row = state.history[-1]
        record["epochs"].append({"epoch": row["epoch"], "loss": round(row["loss"], 6), "lr": row["lr"],
                                 "train_s": round(row["train_seconds"], 3), "valid_s": round(row["valid_seconds"], 3)})
        if row["valid"] is not None:
            validated.add(row["epoch"])
            point = {"epoch": row["epoch"], "valid": _rounded(row["valid"])}
            if test_windows is not None:
                windows = test_windows.to(next(model.parameters()).device)
                # The model as it is after this epoch, ranked exactly as the evaluate stage ranks
                # the kept checkpoint (same seed, batch and precision): the two agree at the best epoch.
                tested = time.perf_counter()
                ranks = rank_targets(model, windows, batch_size=config.eval.batch_size, seed=run.seed,
                                     mask_history=config.eval.mask_history, precision=config.eval.precision,
                                     compile=config.eval.compile, progress=False)
                point["test"] = _rounded(summarize(ranks, config.eval.ks, config.eval.averaging_batch()))
                point["test_s"] = round(time.perf_counter() - tested, 3)
            record["validations"].append(point)
        record.update(epochs_finished=row["epoch"], best_epoch=state.best_epoch, best_valid=_rounded(state.best_metrics))
        timing.update(setup_s=round(setup_s, 3), epoch_s=_median([e["train_s"] for e in record["epochs"]]),
                      valid_s=_median([e["valid_s"] for e in record["epochs"] if e["epoch"] in validated]))
        if test_windows is not None:
            timing["test_s"] = _median([p["test_s"] for p in record["validations"]])
        book.save()

    result = fit(model, data, config, run.seed, on_epoch_end=on_epoch_end, progress=False)
    record["best_epoch"], record["best_valid"] = result.best_epoch, _rounded(result.best_metrics)
    record["seconds_to_best"], record["seconds_total"] = round(result.seconds_to_best, 3), round(result.seconds_total, 3)
    record["stopped_early"] = record["epochs_finished"] < config.train.epochs
    with contextlib.chdir(folder):
        save_model(layout.train_dir(dataset, run.variant, run.seed) / "model.pt", model, data.items)
        tested = time.perf_counter()
        evaluate(dataset, run.variant, run.seed)
        timing["test_s"] = round(time.perf_counter() - tested, 3)
        metrics = read_json(layout.eval_dir(dataset, run.variant, run.seed) / "metrics.json", "evaluate")
        record["ranks"] = pack_ranks(read_ranks(layout.eval_dir(dataset, run.variant, run.seed) / "ranks.parquet"))
    record["test"] = {key: metrics[key] for key in metrics if key != "users"}
    record["test_users"] = metrics.get("users")
    book.save()


# A baseline stops when less than this many of its epochs (each with its validation) are left:
# one for the test of its best epoch, one to spare.
RECBOLE_RESERVE_EPOCHS = 2.0


def _run_recbole(run: Run, split: Path, folder: Path, record: dict[str, Any], book: Ledger) -> None:
    """Train and test a RecBole baseline as the pipeline's baselines stage does (run_baseline),
    recording every validation as it ends. When the call's time runs short it stops after a
    validation and still tests its best epoch so far: the record is then cut, with a test."""
    began = time.perf_counter()
    config = profile_config(run.profile)
    record["profile_sha256"] = sha256(ROOT / run.profile)
    timing: dict[str, float | None] = {"setup_s": None, "epoch_s": None, "valid_s": None, "test_s": None}
    record["timing"] = timing
    ours = read_split(split)
    previous = 0.0

    def on_validation(seen: Validation) -> bool:
        nonlocal previous
        if timing["setup_s"] is None:
            timing["setup_s"] = round(time.perf_counter() - began - seen.seconds, 3)
        record["epochs"].append({"epoch": seen.epoch, "train_s": round(seen.seconds - previous, 3)})
        previous = seen.seconds
        record["validations"].append({"epoch": seen.epoch, "valid": {"NDCG@10": round(seen.score, 6)}})
        if seen.improved:
            record.update(best_epoch=seen.epoch, best_valid={"NDCG@10": round(seen.score, 6)})
        record["epochs_finished"] = seen.epoch
        timing["epoch_s"] = _median([e["train_s"] for e in record["epochs"]])
        book.save()
        return book.left() < RECBOLE_RESERVE_EPOCHS * timing["epoch_s"]

    folder.mkdir(parents=True, exist_ok=True)
    result, recbole_log = run_baseline(ours, split, config.recbole.models[run.variant], config.model.max_len,
                                       config.recbole.seed, folder, run.variant, config.recbole.threads, on_validation)
    write_text(folder / "recbole.log", recbole_log)
    summary = result.summary(config.eval.ks, config.eval.averaging_batch())
    timing["test_s"] = round(time.perf_counter() - began - (timing["setup_s"] or 0.0) - result.train_seconds, 3)
    record.update(
        test={key: summary[key] for key in METRICS if key in summary}, test_users=summary["users"],
        settings=summary["settings"], best_epoch=result.best_epoch, epochs_finished=result.last_epoch,
        stopped_early=result.stopped_early, cut=result.interrupted, seconds_total=summary["train_seconds"],
        ranks=pack_ranks(result.ranks.set_index("user_id")["rank"].sort_index()),
    )
    book.save()


def pack_ranks(ranks: pd.Series) -> dict[str, str]:
    """Per-user test ranks (indexed by user id, sorted) as ledger text: int32 little-endian,
    zlib-compressed, base64 (~60 KB for Beauty's 22,363 users), with a digest of the user ids
    so that two runs' ranks pair up only when they rank the same users in the same order."""
    return {"users_sha256": _users_digest(ranks.index),
            "int32_zlib_base64": base64.b64encode(zlib.compress(ranks.to_numpy().astype("<i4").tobytes(), 9)).decode()}


def unpack_ranks(packed: dict[str, str]) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(packed["int32_zlib_base64"])), dtype="<i4").astype(np.int64)


def _users_digest(users) -> str:
    return hashlib.sha256("\n".join(map(str, users)).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# The official code, in a subprocess


EPOCH = re.compile(r"^Epoch: (\d+)$")
EPOCH_LOSS = re.compile(r"^loss in epoch (\d+): (\S+)$")
NUMPY_SCALAR = re.compile(r"np\.(?:float|int)\d*\(([^()]*)\)")


def _dict_line(text: str) -> dict[str, float] | None:
    """A dict the official code printed; NumPy 2 prints its scalars as np.float64(2.5)."""
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        value = ast.literal_eval(NUMPY_SCALAR.sub(r"\1", text))
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, dict) else None


def _fractions(percent: dict[str, float]) -> dict[str, float]:
    return {key: round(float(value) / 100, 6) for key, value in percent.items()}


def parse_official(lines: list[tuple[float, str]]) -> dict[str, Any]:
    """What the official code's printout (trainer.model_train) says, from (seconds since start,
    line) pairs. Its metrics are percentages: returned as fractions, as ours. Its epochs count from
    0: returned counted from 1, as ours (its epoch 10 is our epoch 11).

    Per validation it prints only the best value so far of each metric, and only when one of them
    improved; `valid` holds this validation's own values where they are known (the metrics whose
    best epoch is this one). At the end: "Test---" and the test metrics of the checkpoint kept at
    the last improving validation, then "Best Eval---", each metric's best validation value and the
    epoch of it."""
    epochs: list[dict[str, Any]] = []
    validations: list[dict[str, Any]] = []
    result: dict[str, Any] = {"epochs": epochs, "validations": validations, "test": None, "best_valid": None,
                              "best_epochs": None}
    timing: dict[str, float | None] = {"setup_s": None, "epoch_s": None, "valid_s": None, "test_s": None}
    section, epoch_start, pending, previous = None, None, None, 0.0
    valid_s: list[float] = []
    for at, raw in lines:
        text = raw.strip()
        if pending is not None and "_valid_began" in pending:
            valid_s.append(at - pending.pop("_valid_began"))
        if match := EPOCH.match(text):
            epoch_start, pending = at, None
            if timing["setup_s"] is None:
                timing["setup_s"] = round(at, 3)
        elif match := EPOCH_LOSS.match(text):
            epochs.append({"epoch": int(match[1]) + 1, "loss": float(match[2]),
                           "train_s": None if epoch_start is None else round(at - epoch_start, 3)})
        elif text.startswith("start predicting:"):
            pending = {"epoch": epochs[-1]["epoch"] if epochs else None, "improved": False, "_valid_began": at}
            validations.append(pending)
        elif text.startswith("Test---"):
            section = "test"
            timing["test_s"] = round(at - previous, 3)
        elif text.startswith("Best Eval---"):
            section = "best"
        elif (values := _dict_line(text)) is not None:
            is_epochs = all(key.startswith("Best_epoch_") for key in values)
            is_best = not is_epochs and all(key.startswith("Best_") for key in values)
            if section == "test" and not is_best and not is_epochs:
                result["test"] = _fractions(values)
            elif section == "best" and is_best:
                result["best_valid"] = _fractions({key.removeprefix("Best_"): v for key, v in values.items()})
            elif section == "best" and is_epochs:
                result["best_epochs"] = {key.removeprefix("Best_epoch_"): int(v) + 1 for key, v in values.items()}
            elif section is None and pending is not None and is_best:
                pending.update(improved=True, best_so_far=_fractions(
                    {key.removeprefix("Best_"): v for key, v in values.items()}))
            elif section is None and pending is not None and is_epochs:
                best_at = {key.removeprefix("Best_epoch_"): int(v) + 1 for key, v in values.items()}
                pending["valid"] = {key: value for key, value in pending.get("best_so_far", {}).items()
                                    if best_at.get(key) == pending["epoch"]}
        previous = at
    for point in validations:
        point.pop("_valid_began", None)
    timing["epoch_s"] = _median([e["train_s"] for e in epochs if e["train_s"] is not None])
    timing["valid_s"] = _median(valid_s)
    result["timing"] = timing
    result["epochs_finished"] = epochs[-1]["epoch"] if epochs else 0
    # The checkpoint it tests is the one kept at the last validation where any metric improved.
    improved = [p["epoch"] for p in validations if p["improved"]]
    result["best_epoch"] = improved[-1] if improved else None
    return result


def _run_official(run: Run, anchors: Path, folder: Path, record: dict[str, Any], book: Ledger) -> None:
    """Run the official main.py from a writable copy laid out as its README says (src/ beside
    ../datasets/data/<name>/dataset.pkl), echoing its output into our log as it comes."""
    if not (anchors / "src" / "main.py").is_file():
        raise DataError(f"{anchors}: no official code; run `gpu_reproduction.py prepare` and carry .device")
    home = copy_anchors(anchors, folder / "diffurec-official")
    command = [sys.executable, "main.py", *run.args]
    record["command"] = " ".join(command[1:])
    lines: list[tuple[float, str]] = []
    began = time.perf_counter()
    process = subprocess.Popen(command, cwd=home / "src", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               bufsize=1, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in process.stdout:
            lines.append((time.perf_counter() - began, line.rstrip("\n")))
            print(f"[official] {line}", end="", flush=True)
            if EPOCH_LOSS.match(line.strip()) or line.startswith("{"):
                record.update(parse_official(lines))
                book.save()
        code = process.wait()
    finally:
        if process.poll() is None:
            # Cut by the budget: its whole process group, so no worker outlives the call.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        record.update(parse_official(lines))
        record["output_tail"] = [text for _, text in lines[-5:]]
    if code != 0:
        raise RuntimeError(f"the official code exited with status {code}: {lines[-1][1] if lines else 'no output'}")
    if record["test"] is None:
        raise RuntimeError("the official code printed no test metrics")


# ---------------------------------------------------------------------------------------------
# Bringing a call's ledger home, and rendering the ledger


@app.command("ingest")
def ingest_command(
    files_at: Annotated[Path, typer.Argument(help="Folder the device call's $OUT came back to.")],
    ledger: Annotated[Path, typer.Option(help="Ledger folder.")] = LEDGER,
) -> None:
    """Copy a device call's ledger file, and its log.txt as <name>.log, into the ledger folder;
    nothing is copied when either exists there already."""
    files = sorted(files_at.glob("*.json"))
    if len(files) != 1:
        raise DataError(f"{files_at}: expected one ledger file, found {[f.name for f in files]}")
    (source,) = files
    copies = {source: ledger / source.name}
    if (files_at / "log.txt").is_file():
        copies[files_at / "log.txt"] = ledger / f"{source.stem}.log"
    for target in copies.values():
        if target.exists():
            raise DataError(f"{target}: exists; a ledger file is never overwritten")
    for origin, target in copies.items():
        write_with(target, lambda tmp, origin=origin: shutil.copyfile(origin, tmp))
        log(f"{target}")


def _cell(metrics: dict[str, float] | None, key: str) -> str:
    return "-" if not metrics or metrics.get(key) is None else f"{metrics[key]:.4f}"


def _gap(test: dict[str, float] | None, valid: dict[str, float] | None) -> str:
    if not test or not valid or not valid.get("NDCG@10"):
        return "-"
    return f"{test['NDCG@10'] / valid['NDCG@10'] - 1:+.1%}"


def render(records: list[dict[str, Any]], link_base: str) -> str:
    """One table per experiment (queue order, then any other), a row per recorded run, and the
    curve of every run with more than one validation."""
    order = [e.id for e in QUEUE]
    by_experiment: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_experiment.setdefault(record["spec"]["experiment"], []).append(record)
    questions = {e.id: e.question for e in QUEUE}
    lines: list[str] = ["Ledger files:", ""]
    calls = {record["ledger"]: record["call"] for record in records}
    current = code_sha256()
    for name, call in calls.items():
        code = call.get("code_sha256")
        same = "the code as now" if code == current else f"older code ({(code or 'unknown')[:12]})"
        lines.append(f"- [{name}]({link_base}{name}): {call.get('card')}, torch {call.get('torch')}, started "
                     f"{call.get('started_utc')}, budget {call.get('budget_s')} s, ran {call.get('wall_s')} s; {same}; "
                     f"raw log [{call.get('log')}]({link_base}{call.get('log')}).")
    lines.append("")
    for key in sorted(by_experiment, key=lambda k: (order.index(k) if k in order else len(order), k)):
        rows = by_experiment[key]
        lines += [f"### {key}: {questions.get(key, '')}".rstrip(": "), "",
                  "| Run | Recipe | Overrides / arguments | Status | Epochs | Best epoch | Valid NDCG@10 | "
                  "Test HR@10 | Test NDCG@10 | Test vs valid | Wall (s) | Card | Ledger |",
                  "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
        for r in rows:
            s = r["spec"]
            options = " ".join(s["overrides"] or s["args"]) or "-"
            status = "cut by the budget" if r["cut"] else r["status"]
            status += " (early stop)" if r.get("stopped_early") else ""
            status += ", settled" if r["settled"] and r["status"] != "done" else ""
            lines.append(
                f"| {s['run']} ({s['variant']}, seed {s['seed']}) | {s['recipe']} | `{options}` | {status} | "
                f"{r['epochs_finished']} of {r['planned_epochs']} | {r['best_epoch'] or '-'} | "
                f"{_cell(r['best_valid'], 'NDCG@10')} | {_cell(r['test'], 'HR@10')} | {_cell(r['test'], 'NDCG@10')} | "
                f"{_gap(r['test'], r['best_valid'])} | {r['wall_s'] if r['wall_s'] is not None else '-'} | "
                f"{r['card']}, torch {r['torch']} | [{r['ledger']}]({link_base}{r['ledger']}) |")
        lines.append("")
        if any(r["spec"]["kind"] == "official" for r in rows):
            lines += ["Official code: valid = its \"Best Eval\" (each metric's best validation), test = the "
                      "checkpoint of its last validation where any metric improved; its epochs counted from 1.", ""]
        for r in rows:
            # A RecBole baseline validates every epoch, NDCG@10 only: its curve stays in the ledger.
            if len(r["validations"]) > 1 and r["spec"]["kind"] != "recbole":
                lines += [f"Curve of {r['spec']['run']} ([{r['ledger']}]({link_base}{r['ledger']})):", "",
                          "| Epoch | Valid HR@10 | Valid NDCG@10 | Test HR@10 | Test NDCG@10 |",
                          "| ---: | ---: | ---: | ---: | ---: |"]
                for point in r["validations"]:
                    valid = point.get("valid") or point.get("best_so_far")
                    lines.append(f"| {point['epoch']} | {_cell(valid, 'HR@10')} | {_cell(valid, 'NDCG@10')} | "
                                 f"{_cell(point.get('test'), 'HR@10')} | {_cell(point.get('test'), 'NDCG@10')} |")
                lines.append("")
        if any(r.get("error") for r in rows):
            lines += [f"- {r['spec']['run']}: {r['error']}" for r in rows if r.get("error")] + [""]
    return "\n".join(lines)


@app.command("report")
def report_command(
    ledger: Annotated[Path, typer.Option(help="Ledger folder.")] = LEDGER,
    out: Annotated[Path | None, typer.Option(help="Markdown file to write. Default: print it.")] = None,
    link_base: Annotated[str, typer.Option(help="Prefix of the links to ledger files (docs/fidelity.md: ledger/).")] = "ledger/",
) -> None:
    """Render every ledger file's runs as Markdown tables, one per experiment (CPU)."""
    records = read_ledger(ledger)
    if not records:
        raise DataError(f"{ledger}: no ledger records; ingest a device call first")
    text = render(records, link_base)
    if out is None:
        print(text)
    else:
        write_text(out, text)


def is_grid_run(record: dict[str, Any]) -> bool:
    """A run of the grid's computation, under whatever experiment it ran (E4/paper-recipe is one)."""
    spec = record["spec"]
    return (spec["kind"] == "ours" and spec["recipe"] == GRID_RECIPE and spec["overrides"] == list(GRID_OVERRIDES)
            and "ranks" in record)


def is_grid_baseline(record: dict[str, Any]) -> bool:
    """A RecBole baseline of the grid's recipe, with its test ranks."""
    spec = record["spec"]
    return spec["kind"] == "recbole" and spec["recipe"] == GRID_RECIPE and "ranks" in record


@app.command("reproduction")
def reproduction_command(
    ledger: Annotated[Path, typer.Option(help="Ledger folder.")] = LEDGER,
    out: Annotated[Path, typer.Option(help="Markdown file to write.")] = ROOT / "docs" / "reproduction.md",
    link_base: Annotated[str, typer.Option(help="Prefix of the links to the ledger (from docs/: ledger/).")] = "ledger/",
    paper_tables: Annotated[Path, typer.Option(help="The paper's printed numbers.")] = ROOT / PAPER_TABLES,
) -> None:
    """Render the paper's grid from every ledger file as docs/reproduction.md: seeds done per dataset,
    then Tables 2-5 and the t-tests by the pipeline's table code (CPU)."""
    records = read_ledger(ledger) if ledger.is_dir() else []
    ks = profile_config(GRID_RECIPE).eval.ks
    text = grid_report.render(records, is_grid_run, is_grid_baseline, GRID_RECIPE, ks, load_paper_tables(paper_tables),
                              unpack_ranks, link_base)
    write_text(out, text)
    log(f"wrote {out}")


if __name__ == "__main__":
    main(app)
