"""Training samples/s and evaluation users/s of the real code path (`diffurec.train.fit`), and
the machine-readable record of them (docs/gpu-speed.json).

Runs `--epochs` epochs of one variant; the last two (or the only one) are each followed by a
full-ranking validation of train.valid_users users (0 = all) through model.steps reverse steps.
Prints every epoch's rates; the last epoch and the last validation are the warm figures to quote.
The first epoch pays for start-up (CUDA context, kernels, allocator, and with train.compile the
compilation); on CUDA a compiled step runs a batch shape once before recording its CUDA graph on
the second sight and replaying it after, so with grouped batches (whose shapes repeat each epoch)
compiled arms need `--epochs 3`. The first validation pays eval.compile's compilation likewise.

`--arm PRECISION:COMPILE` (repeatable) runs the configuration once per arm with train.precision
and eval.precision set to PRECISION (auto, fp32, bf16) and train.compile and eval.compile to
COMPILE (auto, eager, compiled), e.g. `--arm fp32:eager --arm fp32:compiled --arm bf16:compiled`:
the same configuration, seed and data, so the arms' losses and validation scores show whether
they compute the same thing. Without `--arm` the params' own settings run. `--record FILE` merges
each arm's numbers into a JSON record (machine, configuration, precision, compile, every epoch's
seconds, loss and validation NDCG@10, the warm figures; an arm measured again on the same card
replaces its entry unless only the older one finished) and keeps there an estimate of the whole
paper grid's time from the paper configuration's rows. `--budget S` stops after S seconds; the
epochs an arm finished by then are recorded. An arm that fails is recorded with its error and
the next arm runs.

    python benchmarks/speed.py data/split/ml-100k.parquet --variant v1
    python benchmarks/speed.py .device/split/amazon-beauty.parquet --name official --variant baseline \\
        --params profiles/paper.yaml -S model.max_len=50 -S train.batch_size=512 -S eval.batch_size=256 \\
        --epochs 3 --arm fp32:eager --arm fp32:compiled --record docs/gpu-speed.json

The device call that measures every configuration of issue 15 is in docs/benchmarks.md
("Compiled steps").
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
import yaml
from common import describe, load_config, load_data
from device.lease import BudgetExceeded, alarm, machine, sha256

from diffurec.compiled import COMPILE_SETTINGS
from diffurec.config import Config
from diffurec.device import PRECISIONS, resolve_device
from diffurec.errors import DataError
from diffurec.sequences import SequenceData, training_windows
from diffurec.train import TrainState, build_model, fit, validation_rows
from pipeline.files.atomic_write import write_json

PAPER_PROFILE = Path(__file__).resolve().parents[1] / "profiles" / "paper.yaml"
# What makes two entries of the record the same measurement (a later one replaces the earlier).
ENTRY_KEY = ("card", "dataset", "name", "variant", "precision", "compile")


def parse_arm(text: str) -> tuple[str, str]:
    """"PRECISION:COMPILE" -> (precision, compile), e.g. "bf16:compiled"."""
    precision, _, compile = text.partition(":")
    if precision not in PRECISIONS or compile not in COMPILE_SETTINGS:
        raise typer.BadParameter(f"--arm {text!r}: write PRECISION:COMPILE with PRECISION one of {list(PRECISIONS)} "
                                 f"and COMPILE one of {list(COMPILE_SETTINGS)}, e.g. fp32:compiled")
    return precision, compile


def _arm_name(arm: tuple[str, str] | None) -> str:
    return "the params' own precision and compile" if arm is None else ":".join(arm)


def arm_config(config: Config, epochs: int, arm: tuple[str, str] | None) -> Config:
    """`config` for `epochs` epochs, validated after the last two, with the arm's precision and compile."""
    train = dataclasses.replace(config.train, epochs=epochs, eval_every=1, eval_offset=max(epochs - 2, 0))
    evaluation = config.eval
    if arm is not None:
        precision, compile = arm
        train = dataclasses.replace(train, precision=precision, compile=compile)
        evaluation = dataclasses.replace(evaluation, precision=precision, compile=compile)
    return dataclasses.replace(config, train=train, eval=evaluation)


def card_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads)"


def new_entry(config: Config, name: str, variant: str, split: Path, data: SequenceData, samples: int,
              users: int) -> dict[str, Any]:
    device = resolve_device(config.train.device)
    return {
        "card": card_name(device),
        "machine": machine(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "dataset": split.stem,
        "split_sha256": sha256(split),
        "users": len(data.users),
        "items": data.n_items,
        "samples": samples,
        "users_evaluated": users,
        "name": name,
        "variant": variant,
        "configuration": {"model": dataclasses.asdict(config.model), "train": dataclasses.asdict(config.train),
                          "eval": dataclasses.asdict(config.eval)},
        "device": device.type,
        "precision": {"train": config.train.precision, "eval": config.eval.precision},
        "compile": {"train": config.train.compile, "eval": config.eval.compile},
        "status": "interrupted",
        "epochs": [],
    }


def record_epochs(entry: dict[str, Any], state: TrainState) -> None:
    """Every finished epoch of the arm, and its warm figures: the last epoch and the last validation."""
    entry["epochs"] = [
        {"epoch": row["epoch"], "train_s": round(row["train_seconds"], 6), "loss": row["loss"],
         "valid_s": round(row["valid_seconds"], 6) if row["valid"] is not None else None,
         "valid_NDCG@10": row["valid"]["NDCG@10"] if row["valid"] is not None else None}
        for row in state.history
    ]
    last = state.history[-1]
    entry["epoch_s"] = round(last["train_seconds"], 6)
    entry["samples_per_s"] = round(entry["samples"] / last["train_seconds"], 1)
    validated = [row for row in state.history if row["valid"] is not None]
    if validated:
        entry["evaluation_s"] = round(validated[-1]["valid_seconds"], 6)
        entry["users_per_s"] = round(entry["users_evaluated"] / validated[-1]["valid_seconds"], 1)


def merge(path: Path, entry: dict[str, Any]) -> None:
    """Write `entry` into the record at `path` (created if missing), replacing the entry of the same
    measurement unless that one finished and this one did not; refresh the paper-grid estimate."""
    record = read_record(path)
    key = [entry[name] for name in ENTRY_KEY]
    kept = []
    for old in record["measurements"]:
        if [old[name] for name in ENTRY_KEY] != key:
            kept.append(old)
        elif old["status"] == "done" and entry["status"] != "done":
            return
    record["measurements"] = sorted([*kept, entry], key=_order)
    record["paper_grid"] = paper_grid(record["measurements"], yaml.safe_load(PAPER_PROFILE.read_text()))
    write_json(path, record)


def _order(entry: dict[str, Any]) -> str:
    return json.dumps([entry[name] for name in ENTRY_KEY], sort_keys=True)


def read_record(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"measurements": []}
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error}); restore it from git or pass another --record") from error
    if not isinstance(record.get("measurements"), list):
        raise DataError(f"{path}: no 'measurements' list; not a speed record, pass another --record")
    return record


def paper_grid(measurements: list[dict[str, Any]], profile: dict[str, Any]) -> dict[str, Any]:
    """Seconds the paper's grid (profiles/paper.yaml: every dataset, variant and seed, its epochs,
    validation after each) takes to train on one card, from each dataset's fastest finished float32
    row named "paper" (the variant it measured stands for all three); test evaluation and ensembles,
    seconds per run, are left out. `total_s` is None while a dataset has no such row."""
    epochs, runs = profile["train"]["epochs"], len(profile["variants"]) * len(profile["seeds"])
    per_dataset, missing = {}, []
    for dataset in profile["datasets"]:
        rows = [row for row in measurements if row["dataset"] == dataset and row["name"] == "paper"
                and row["status"] == "done" and row["precision"]["train"] == "fp32" and "evaluation_s" in row]
        if not rows:
            missing.append(dataset)
            continue
        best = min(rows, key=lambda row: row["epoch_s"] + row["evaluation_s"])
        per_dataset[dataset] = {"card": best["card"], "compile": best["compile"], "variant": best["variant"],
                                "run_s": round(epochs * (best["epoch_s"] + best["evaluation_s"]), 1)}
    return {"epochs": epochs, "runs_per_dataset": runs, "datasets": per_dataset, "missing": missing,
            "total_s": round(sum(runs * row["run_s"] for row in per_dataset.values()), 1) if not missing else None}


def main(
    split: Annotated[Path, typer.Argument(help="Split parquet, e.g. data/split/ml-100k.parquet.")],
    variant: Annotated[str, typer.Option(help="baseline, v1 or v2.")] = "v1",
    epochs: Annotated[int, typer.Option(help="Epochs to time; the last one is the warm figure.")] = 2,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto; default: params.yaml's.")] = None,
    params: Annotated[Path, typer.Option(help="Params file.")] = Path("params.yaml"),
    set_: Annotated[list[str], typer.Option("-S", "--set", help="Override a param: -S train.batch_size=512.")] = [],
    seed: Annotated[int, typer.Option(help="Seed of model, batches and reverse process.")] = 0,
    arm: Annotated[list[str], typer.Option(help="PRECISION:COMPILE to run (repeatable), e.g. fp32:compiled.")] = [],
    name: Annotated[str | None, typer.Option(help="The configuration's name in the record; default: the params "
                                                  "file's stem.")] = None,
    record: Annotated[Path | None, typer.Option(help="JSON record to merge the numbers into.")] = None,
    budget: Annotated[float | None, typer.Option(help="Seconds for every arm together.")] = None,
) -> None:
    if epochs < 1:
        raise typer.BadParameter(f"--epochs {epochs}: time at least one epoch")
    arms = [parse_arm(text) for text in arm] or [None]
    base = load_config(params, set_, device)
    data = load_data(split)
    samples = len(training_windows(data, base.model.max_len))
    users = len(validation_rows(len(data.users), base.train.valid_users))
    print(f"machine: {describe(base)}")
    print(f"command: {' '.join(sys.argv)}")
    print(f"data: {split} ({len(data.users)} users, {data.n_items} items, {samples} training samples/epoch, "
          f"{users} users validated)")
    print(f"config: variant={variant} model={base.model} train.batch_size={base.train.batch_size} "
          f"eval.batch_size={base.eval.batch_size}")
    started = time.perf_counter()
    pending = list(arms)
    with alarm(budget) if budget is not None else contextlib.nullcontext():
        try:
            while pending:
                config = arm_config(base, epochs, pending[0])
                entry = new_entry(config, name or params.stem, variant, split, data, samples, users)
                _measure(config, data, variant, seed, entry, record)
                pending.pop(0)
        except BudgetExceeded:
            print(f"budget of {budget} s reached; cut: {_arm_name(pending[0])}, not run: "
                  f"{[_arm_name(left) for left in pending[1:]]}")
    print(f"wall clock including set-up: {time.perf_counter() - started:.1f} s")


def _measure(config: Config, data: SequenceData, variant: str, seed: int, entry: dict[str, Any],
             record: Path | None) -> None:
    """Train one arm, printing each epoch and writing the record after each (so a cut arm keeps them)."""
    print(f"arm: precision {entry['precision']}, compile {entry['compile']}", flush=True)

    def on_epoch_end(state: TrainState) -> None:
        row = state.history[-1]
        evaluated = "" if row["valid"] is None else (
            f", evaluate {row['valid_seconds']:.2f} s ({entry['users_evaluated'] / row['valid_seconds']:.1f} users/s), "
            f"valid NDCG@10 {row['valid']['NDCG@10']:.4f}")
        rate = entry["samples"] / row["train_seconds"]
        print(f"epoch {row['epoch']}: train {row['train_seconds']:.2f} s ({rate:.1f} samples/s), "
              f"loss {row['loss']:.4f}{evaluated}", flush=True)
        record_epochs(entry, state)
        if record is not None:
            merge(record, entry)

    model = build_model(data.n_items, config.model, variant, seed)
    try:
        fit(model, data, config, seed, on_epoch_end=on_epoch_end)
        entry["status"] = "done"
    except Exception as error:
        # On a short device lease an arm that fails (a compiler error on a new card, say) is
        # recorded with its error, and the arms after it still run.
        traceback.print_exc()
        entry.update(status="failed", error=f"{type(error).__name__}: {error}")
    finally:
        # The next arm compiles and records its CUDA graphs afresh, as a new process would.
        torch._dynamo.reset()
    if record is not None:
        merge(record, entry)


if __name__ == "__main__":
    typer.run(main)
