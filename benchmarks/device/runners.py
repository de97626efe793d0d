"""One queued run on this machine, by kind: ours (diffurec.train.fit, then the pipeline's evaluate
stage), the official code (its main.py in a subprocess), or a RecBole baseline (the pipeline's
baselines stage's run_baseline). Each fills its ledger record as it goes and saves the ledger file
after every epoch or validation, so a run the budget cuts keeps what it finished."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from device import ROOT
from device.experiments import Run, profile_config
from device.ledger import METRICS, Ledger, median_s, pack_ranks
from device.lease import sha256
from device.official_log import EPOCH_LOSS, parse_official
from device.prepare import copy_anchors

from diffurec.config import Config
from diffurec.errors import DataError
from diffurec.inference import rank_targets
from diffurec.metrics import summarize
from diffurec.sequences import SequenceData, evaluation_windows
from diffurec.train import TrainState, build_model, fit
from pipeline import layout
from pipeline.files.atomic_write import write_text, write_with
from pipeline.files.checkpoint import save_model
from pipeline.files.data_tables import read_split
from pipeline.files.run_results import read_json, read_ranks
from pipeline.recbole_runner import Validation, run_baseline
from pipeline.stages.evaluate import evaluate

# A baseline stops when less than this many of its epochs (each with its validation) are left:
# one for the test of its best epoch, one to spare.
RECBOLE_RESERVE_EPOCHS = 2.0


def _rounded(metrics: dict[str, float] | None) -> dict[str, float] | None:
    return None if metrics is None else {key: round(float(value), 6) for key, value in metrics.items()}


def run_ours(run: Run, raw: dict[str, Any], dataset: str, split: Path, data: SequenceData, folder: Path,
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
        timing.update(setup_s=round(setup_s, 3), epoch_s=median_s([e["train_s"] for e in record["epochs"]]),
                      valid_s=median_s([e["valid_s"] for e in record["epochs"] if e["epoch"] in validated]))
        if test_windows is not None:
            timing["test_s"] = median_s([p["test_s"] for p in record["validations"]])
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


def run_recbole(run: Run, split: Path, folder: Path, record: dict[str, Any], book: Ledger) -> None:
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
        timing["epoch_s"] = median_s([e["train_s"] for e in record["epochs"]])
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


def run_official(run: Run, anchors: Path, folder: Path, record: dict[str, Any], book: Ledger) -> None:
    """Run the official main.py from a writable copy laid out as its README says (src/ beside
    ../datasets/data/<name>/dataset.pkl), echoing its output into our log as it comes."""
    if not (anchors / "src" / "main.py").is_file():
        raise DataError(f"{anchors}: no official code; run `device_queue.py prepare` and carry .device")
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
