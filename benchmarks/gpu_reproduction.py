"""The paper's configuration and the speed benchmarks on a GPU, inside one short device lease,
measured with the pipeline's own stage code. Three steps:

1. Here (CPU): build split tables with the pipeline's data stages from a RecBole mirror into
   `.device/split/`, and copy the official DiffuRec code with its Beauty pickle into
   `.device/anchors/` for benchmarks/device_queue.py (git-ignored; name `.device` in the
   device call's `carry`):

       python benchmarks/gpu_reproduction.py prepare --mirror ../shared/datasets/recbole-mirror

2. On the device machine (it has neither dvc nor recbole; `run` needs neither):

       PYTHONPATH=. python3 benchmarks/gpu_reproduction.py run \\
           .device/split/amazon-beauty.parquet --out $OUT --budget 530 --speed-epochs 0 \\
           -S train.eval_every=5 -S eval.batch_size=4096 2>&1 | tee $OUT/log.txt

   First the speed benchmark at the official DiffuRec code's configuration (its anchor: 18.4 s
   per Beauty epoch on an H100; `--speed-epochs 0` skips it), then train + evaluate runs of
   profiles/paper.yaml seed by seed (every model of seed 0, the control included, then of seed
   1, ...): the first always starts, each later one only while it and the ensemble of the
   complete seeds still fit in the budget, as the runs so far predict; then that ensemble
   (Algorithm 3). OUT receives results.json (machine, timings, every run's metrics and, for the
   diffusion models, sensitivity to x_t, and the finished
   epochs of a run the budget cut; rewritten after every run) and runs.tar.gz (the run folders without weights,
   and the params.yaml they ran with).

3. Here, on what came back:

       python benchmarks/gpu_reproduction.py report FILES_AT --doc docs/reproduction-<date>.md \\
           [--speed-from OTHER_FILES_AT]

   renders Tables 2-4 with the pipeline's ttest and tables stages, compares our Table 3 with the
   paper's and writes the document, with the raw log copied beside it. `--speed-from` takes the
   speed benchmark from another call's files (and copies that call's log too).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
import yaml
from common import load_raw
from reproduction import describe_machine, render_document
from sensitivity import history_sensitivity, sample_histories, x_t_sensitivity

from diffurec.config import Config
from diffurec.datasets import find_dataset
from diffurec.device import resolve_device
from diffurec.errors import DataError
from diffurec.sequences import SequenceData, encode, evaluation_windows, training_windows
from diffurec.train import TrainState, build_model, fit
from diffurec.variants import BASELINE, VARIANTS, find_variant
from pipeline import layout
from pipeline.app import main
from pipeline.files.atomic_write import write_json, write_text, write_with
from pipeline.files.checkpoint import fingerprint, load_model, load_resume
from pipeline.files.data_tables import read_split
from pipeline.files.paper_tables import PAPER_TABLES, load_paper_tables
from pipeline.files.run_results import read_json
from pipeline.params import load_config
from pipeline.stages.download import download
from pipeline.stages.ensemble import ensemble
from pipeline.stages.evaluate import evaluate
from pipeline.stages.preprocess import preprocess
from pipeline.stages.split import split as split_stage
from pipeline.stages.tables import TABLE2, TABLE3, TABLE4, tables
from pipeline.stages.train import train
from pipeline.stages.ttest import ttest

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "paper.yaml"
DEVICE_DIR = Path(".device")
# The official DiffuRec code's own defaults, at which its speed was measured
# (reference/implementation-notes: 18.4 s per Beauty training epoch on an H100).
OFFICIAL = ["model.max_len=50", "train.batch_size=512", "model.hidden=128", "model.blocks=4", "eval.batch_size=256",
            "train.valid_users=0"]
# The official DiffuRec code (run, never copied into the project) and what of it a device call needs:
# its src/ and the published Beauty split it trains on (anchors README).
ANCHORS = ROOT.parent / "shared" / "anchors" / "diffurec-official"
ANCHOR_PARTS = ("LICENSE", "src", "datasets/data/amazon_beauty")
# What the device machine lacks to run the RecBole baselines (it has torch, numpy, pandas, scipy,
# pyyaml, tqdm, colorama, tensorboard and scikit-learn): RecBole itself and the two pure-Python
# packages its config and trainers import. Copied from this machine's install, the versions the
# tests run, into DEST/site/, which a device call puts on PYTHONPATH. RecBole imports thop, plotly
# and ray only for FLOP counts, hyper-parameter plots and its quick-start, none of which we use.
CARRIED_PACKAGES = ("recbole", "colorlog", "texttable")
# What the device tool carries at most, working tree and `carry` together.
CARRY_LIMIT = 64 * 2**20
# Kept free at the end of the budget for writing results.json and runs.tar.gz.
PACKING_S = 15.0
# A variant not yet timed is assumed this much slower than the slowest timed one.
UNTIMED_FACTOR = 1.5
# Test users on whom each run's sensitivity to x_t is measured.
SENSITIVITY_USERS = 1024
# Where `report` copies the raw logs of the runs and of a separate speed call.
LOG_COPY = Path("docs/reproduction-log.txt")
SPEED_LOG_COPY = Path("docs/reproduction-speed-log.txt")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help=__doc__.split("\n\n")[0])


class BudgetExceeded(BaseException):
    """Raised by the budget's alarm wherever the program is; BaseException so no handler eats it."""


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Interrupt the code inside with BudgetExceeded once `seconds` have passed."""
    def ring(signum, frame):
        raise BudgetExceeded

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def plan_next(variant: str, timed: dict[str, float]) -> float:
    """Seconds the next run of `variant` should take: its last run's, else a cautious guess from
    the slowest timed variant. `timed` must not be empty."""
    if variant in timed:
        return timed[variant]
    return UNTIMED_FACTOR * max(timed.values())


def complete_seeds(runs: list[dict[str, Any]], variants: list[str]) -> list[int]:
    """Seeds whose run of every variant finished, in the order they ran."""
    done = {(run["variant"], run["seed"]) for run in runs if run["status"] == "done"}
    seeds = dict.fromkeys(run["seed"] for run in runs)
    return [seed for seed in seeds if all((variant, seed) in done for variant in variants)]


def ensemble_estimate_s(n_seeds: int, evaluation_s: dict[str, float], variants: list[str]) -> float:
    """Algorithm 3 runs every seed's reverse process once per variant; a variant whose test
    evaluation was not timed yet is guessed from the slowest that was. `evaluation_s` must not be empty."""
    slowest = max(evaluation_s.values())
    return sum(n_seeds * evaluation_s.get(variant, slowest) for variant in variants)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    multiprocessors=props.multi_processor_count, cudnn=torch.backends.cudnn.version())
        if shutil.which("nvidia-smi"):
            query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
            info["driver"] = subprocess.run(query, capture_output=True, text=True).stdout.strip()
    return info


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def log(message: str) -> None:
    print(f"[{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S}] {message}", flush=True)


@app.command("prepare")
def prepare_command(
    mirror: Annotated[Path, typer.Option(help="RecBole mirror folder (RecBole's bucket layout).")],
    dataset: Annotated[list[str], typer.Option(help="Dataset to prepare (repeatable).")] = [
        "amazon-beauty", "amazon-toys-games", "ml-1m"],
    dest: Annotated[Path, typer.Option(help="Folder that receives split/<dataset>.parquet.")] = DEVICE_DIR,
    anchors: Annotated[Path, typer.Option(help="The official DiffuRec code, copied to DEST/anchors/.")] = ANCHORS,
) -> None:
    """Build split tables with the pipeline's download, preprocess and split stages, and copy the
    official code with its Beauty pickle and RecBole (DEST/site/, for the baselines) beside them (CPU)."""
    if not mirror.is_dir():
        raise DataError(f"{mirror}: no such mirror folder; pass --mirror with RecBole's bucket layout")
    if not (anchors / "src" / "main.py").is_file():
        raise DataError(f"{anchors}: not the official DiffuRec code (no src/main.py); pass --anchors")
    mirror, dest = mirror.resolve(), dest.resolve()
    for key in dataset:
        find_dataset(key)
        with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(Path(scratch)):
            profile = yaml.safe_load(PROFILE.read_text())
            profile["datasets"] = [key]
            profile["data"]["mirror"] = str(mirror)
            Path("params.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
            target = dest / "split" / f"{key}.parquet"
            download(key)
            preprocess(key)
            split_stage(key, out=target)
        log(f"{target}: {sha256(target)}")
    copied = copy_anchors(anchors, dest / "anchors" / anchors.name)
    site = copy_packages(CARRIED_PACKAGES, dest / "site")
    size = folder_bytes(dest)
    log(f"{copied}: official code and Beauty pickle; {site}: {', '.join(CARRIED_PACKAGES)}; "
        f"{dest}: {size / 2**20:.1f} MiB in all")
    if size >= CARRY_LIMIT:
        raise DataError(f"{dest}: {size / 2**20:.1f} MiB, over the {CARRY_LIMIT // 2**20} MiB a device call carries; "
                        "prepare fewer datasets (--dataset amazon-beauty)")


def copy_anchors(source: Path, target: Path) -> Path:
    """A writable copy of ANCHOR_PARTS of the official code at `target`, replacing an older copy.
    File by file, without permissions: the shared copy is read-only, and the official code writes
    its logs into src/log/."""
    if target.exists():
        shutil.rmtree(target)
    for part in ANCHOR_PARTS:
        origin = source / part
        files = [origin] if origin.is_file() else sorted(p for p in origin.rglob("*") if p.is_file())
        if not files:
            raise DataError(f"{origin}: missing from the official code; is {source} complete?")
        for file in files:
            relative = file.relative_to(source)
            if "__pycache__" in relative.parts or relative.parts[:2] == ("src", "log"):
                continue
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target / relative)
    return target


def copy_packages(names: tuple[str, ...], target: Path) -> Path:
    """The installed files of the distributions `names` (code and metadata, no bytecode, nothing
    installed outside site-packages) copied into `target`, replacing an older copy: a folder that
    works as an entry of PYTHONPATH on a machine that cannot pip-install them."""
    if target.exists():
        shutil.rmtree(target)
    for name in names:
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise DataError(f"{name} is not installed here; install the project with its 'pipeline' extra") from None
        for file in distribution.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue
            (target / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(distribution.locate_file(file), target / file)
    return target


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


@app.command("run")
def run_command(
    split: Annotated[Path, typer.Argument(help="Split table, e.g. .device/split/amazon-beauty.parquet.")],
    out: Annotated[Path, typer.Option(help="Folder that receives results.json and runs.tar.gz.")],
    budget: Annotated[float, typer.Option(help="Seconds for everything, packing included.")] = 400.0,
    profile: Annotated[Path, typer.Option(help="Params of the reproduction runs.")] = PROFILE,
    set_: Annotated[list[str], typer.Option("-S", "--set", help="Override a param: -S train.eval_every=5.")] = [],
    variant: Annotated[list[str], typer.Option(
        help="Model to run (repeatable). Default: every one, the paper's three and the control.")] = list(VARIANTS),
    speed_epochs: Annotated[int, typer.Option(help="Epochs of the speed benchmark (0: skip it).")] = 3,
    workdir: Annotated[Path | None, typer.Option(help="Where runs/ is written. Default: a temporary folder.")] = None,
) -> None:
    """Speed benchmark, then as many (seed, variant) runs of PROFILE as BUDGET allows (GPU)."""
    journal = Journal(out.resolve(), budget)
    split = split.resolve()
    dataset = split.stem
    find_dataset(dataset)
    for name in variant:
        find_variant(name)
    raw = load_raw(profile, set_)
    raw["datasets"], raw["variants"] = [dataset], list(variant)
    config = Config.from_dict(raw)
    official = Config.from_dict(load_raw(profile, OFFICIAL + [f"train.epochs={max(speed_epochs, 1)}",
                                                              f"train.eval_every={max(speed_epochs, 1)}"]))
    data = encode(read_split(split))
    journal.out.mkdir(parents=True, exist_ok=True)
    journal.results.update({
        "command": " ".join(sys.argv),
        "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "budget_s": budget,
        "machine": machine(),
        "dataset": dataset,
        "split": {"file": split.name, "sha256": sha256(split), "users": len(data.users), "items": data.n_items,
                  "samples": len(training_windows(data, config.model.max_len))},
        "profile": _shown(profile),
        "overrides": list(set_),
        "precision": {"train": config.train.precision, "eval": config.eval.precision,
                      "device": resolve_device(config.train.device).type},
        "speed": {"status": "skipped"},
        "runs": [],
        "complete_seeds": [],
        "ensemble": {"status": "skipped"},
    })
    log(f"machine: {describe_machine(journal.results['machine'])}")
    log(f"data: {dataset}, {journal.results['split']}")

    # The stages read params.yaml and write runs/ relative to the working directory: run them in `work`.
    work = workdir or Path(tempfile.mkdtemp(prefix="gpu-reproduction-"))
    write_with(work / layout.split_file(dataset), lambda tmp: shutil.copyfile(split, tmp))
    with contextlib.chdir(work):
        _write_params(raw, config.seeds)
    try:
        with alarm(journal.left()):
            if speed_epochs > 0:
                _speed(official, data, journal)
            with contextlib.chdir(work):
                _run_seeds(config, dataset, data, list(variant), journal)
                _write_params(raw, journal.results["complete_seeds"])
                _ensemble(list(variant), dataset, journal)
    except BudgetExceeded:
        log("budget reached: stopped here")
    finally:
        journal.save()
    with contextlib.chdir(work):
        _pack(journal.out / "runs.tar.gz")
    journal.save()
    log(f"done in {journal.results['wall_s']:.0f} s: {journal.out / 'results.json'}, {journal.out / 'runs.tar.gz'}")


@dataclass
class Journal:
    """What `run` has done so far (results.json, rewritten after every step) and its budget's clock."""

    out: Path
    budget: float
    started: float = field(default_factory=time.perf_counter)
    results: dict[str, Any] = field(default_factory=dict)

    def left(self) -> float:
        """Seconds left before packing must start."""
        return self.budget - PACKING_S - (time.perf_counter() - self.started)

    def save(self) -> None:
        self.results["wall_s"] = round(time.perf_counter() - self.started, 1)
        write_json(self.out / "results.json", self.results)


def _shown(path: Path) -> str:
    """A path as the document shows it: relative to the project when inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _speed(config: Config, data: SequenceData, journal: Journal) -> None:
    """Train the baseline at the official configuration; the last epoch is the warm figure and its
    validation (every user, model.steps reverse steps) the evaluation figure."""
    samples = len(training_windows(data, config.model.max_len))
    log(f"speed: baseline at the official configuration {OFFICIAL}, {config.train.epochs} epochs, "
        f"{samples} samples/epoch, {len(data.users)} users evaluated with {config.model.steps} steps")
    model = build_model(data.n_items, config.model, BASELINE, 0)
    speed = journal.results["speed"] = {
        "status": "interrupted", "overrides": OFFICIAL, "samples": samples, "users": len(data.users),
        "steps": config.model.steps, "epoch_s": [],
        "precision": {"train": config.train.precision, "eval": config.eval.precision,
                      "device": resolve_device(config.train.device).type},
    }

    def record(state: TrainState) -> None:
        speed["epoch_s"] = [round(row["train_seconds"], 3) for row in state.history]
        journal.save()

    result = fit(model, data, config, 0, on_epoch_end=record, progress=False)
    speed.update(status="done", evaluation_s=round(result.history[-1]["valid_seconds"], 3))
    journal.save()
    log(f"speed: epochs {speed['epoch_s']} s, evaluation {speed['evaluation_s']} s")


def _run_seeds(config: Config, dataset: str, data: SequenceData, variants: list[str], journal: Journal) -> None:
    """Train and test seed by seed, every variant of a seed before the next seed. The first run
    always starts (the speed phase runs another configuration, so it predicts nothing); each later
    one only while it and the ensemble of the seeds complete after it fit in the budget."""
    results = journal.results
    timed: dict[str, float] = {}
    evaluation_s: dict[str, float] = {}
    for seed in config.seeds:
        for position, name in enumerate(variants):
            if timed:
                seeds_after = len(results["complete_seeds"]) + (position == len(variants) - 1)
                needed = plan_next(name, timed) + ensemble_estimate_s(seeds_after, evaluation_s, variants)
                if needed > journal.left():
                    results["stopped"] = (f"before {name} seed {seed}: it and the ensemble need ~{needed:.0f} s, "
                                          f"{journal.left():.0f} s were left")
                    log(f"stop {results['stopped']}")
                    return
            run = {"variant": name, "seed": seed, "status": "interrupted"}
            results["runs"].append(run)
            began = time.perf_counter()
            try:
                train(dataset, name, seed)
            except BudgetExceeded:
                run["epochs"] = _finished_epochs(dataset, name, seed)
                raise
            trained = time.perf_counter()
            evaluate(dataset, name, seed)
            ended = time.perf_counter()
            run.update(
                status="done",
                wall_s=round(ended - began, 1),
                evaluate_s=round(ended - trained, 2),
                train=read_json(layout.train_dir(dataset, name, seed) / "train.json", "train"),
                test=read_json(layout.eval_dir(dataset, name, seed) / "metrics.json", "evaluate"),
            )
            if find_variant(name).diffusion:  # the control has no x_t to be sensitive to
                run["sensitivity"] = _sensitivity(dataset, name, seed, data)
            timed[name] = time.perf_counter() - began
            evaluation_s[name] = ended - trained
            results["complete_seeds"] = complete_seeds(results["runs"], variants)
            journal.save()
            log(f"{name} seed {seed}: {run['wall_s']} s, best epoch {run['train']['best_epoch']}, "
                f"test NDCG@10 {run['test']['NDCG@10']:.4f}")


def _sensitivity(dataset: str, variant: str, seed: int, data: SequenceData) -> dict[str, float]:
    """How much the trained x0_hat moves at t = T-1 when x_t is redrawn, and when the history is
    another user's (benchmarks/sensitivity.py), over SENSITIVITY_USERS sampled test users."""
    device = resolve_device(load_config().eval.device)
    model, _ = load_model(layout.train_dir(dataset, variant, seed) / "model.pt", device)
    histories = sample_histories(evaluation_windows(data, "test", model.config.max_len).to(device), SENSITIVITY_USERS, 0)
    t = model.schedule.steps - 1
    generator = torch.Generator(device=device).manual_seed(0)
    return {"t": t, "users": len(histories), "x_t": x_t_sensitivity(model, histories, t, generator),
            "history": history_sensitivity(model, histories, t, generator)}


def _finished_epochs(dataset: str, variant: str, seed: int) -> list[dict[str, Any]]:
    """The epochs a run cut by the budget completed, read from the train stage's resume state."""
    split = layout.split_file(dataset)
    state = load_resume(layout.resume_file(dataset, variant, seed), fingerprint(load_config(), dataset, variant, seed, split))
    if state is None:
        return []
    return [{"epoch": row["epoch"], "loss": round(row["loss"], 6), "train_s": round(row["train_seconds"], 3),
             "valid_NDCG@10": None if row["valid"] is None else row["valid"]["NDCG@10"]} for row in state.history]


def _write_params(raw: dict, seeds: list[int]) -> None:
    """The stages read params.yaml from the working directory; the ensemble takes its seeds from it."""
    write_text(Path("params.yaml"), yaml.safe_dump({**raw, "seeds": list(seeds) or [0]}, sort_keys=False))


def _ensemble(variants: list[str], dataset: str, journal: Journal) -> None:
    seeds = journal.results["complete_seeds"]
    if not seeds:
        log("ensemble: skipped, no seed has a finished run of every variant")
        return
    info = journal.results["ensemble"] = {"status": "interrupted", "seeds": seeds}
    began = time.perf_counter()
    for name in variants:
        ensemble(dataset, name)
    info.update(status="done", seconds=round(time.perf_counter() - began, 1))
    journal.save()
    log(f"ensemble of seeds {seeds}: {info['seconds']} s")


def _pack(archive: Path) -> None:
    """params.yaml and runs/ without model weights (they stay on the device machine)."""
    def pack(tmp: Path) -> None:
        with tarfile.open(tmp, "w:gz") as tar:
            tar.add("params.yaml")
            if layout.RUNS.is_dir():
                tar.add(layout.RUNS, filter=lambda member: None if member.name.endswith(".pt") else member)

    write_with(archive, pack)


@app.command("report")
def report_command(
    results_dir: Annotated[Path, typer.Argument(help="Folder with results.json, runs.tar.gz and log.txt from `run`.")],
    doc: Annotated[Path, typer.Option(help="Markdown document to write, e.g. docs/reproduction-<date>.md "
                                           "(docs/reproduction.md is the ledger's grid: device_queue.py reproduction).")],
    log_copy: Annotated[Path, typer.Option(help="Where the raw log is copied.")] = LOG_COPY,
    speed_from: Annotated[Path | None, typer.Option(
        help="Folder of another `run` call whose speed benchmark the document shows instead.")] = None,
    speed_log_copy: Annotated[Path, typer.Option(help="Where that call's raw log is copied.")] = SPEED_LOG_COPY,
    paper_tables: Annotated[Path, typer.Option(help="The paper's printed numbers.")] = ROOT / PAPER_TABLES,
) -> None:
    """Render a document of one `run`'s outputs (CPU)."""
    results = _read_results(results_dir / "results.json")
    logs = {results_dir / "log.txt": log_copy}
    if speed_from is not None:
        source = _read_results(speed_from / "results.json")
        logs[speed_from / "log.txt"] = speed_log_copy
        results["speed"] = {
            **source["speed"],
            # Written before the speed phase recorded its own precision: it ran at the profile's,
            # which is the call's wherever no -S override set a precision.
            "precision": source["speed"].get("precision", source["precision"]),
            "source": {"command": source["command"], "started_utc": source["started_utc"],
                       "machine": source["machine"],
                       "log": speed_log_copy.name if (speed_from / "log.txt").is_file() else None},
        }
    paper = load_paper_tables(paper_tables)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        with tarfile.open(results_dir / "runs.tar.gz") as tar:
            tar.extractall(scratch, filter="data")
        rendered = _pipeline_tables(scratch, results, paper_tables.resolve())
    copied = []
    for log_file, copy in logs.items():
        if log_file.is_file():
            write_with(copy, lambda tmp, log_file=log_file: shutil.copyfile(log_file, tmp))
            copied.append(str(copy))
    log_name = log_copy.name if (results_dir / "log.txt").is_file() else None
    write_text(doc, render_document(results, paper, rendered, log_name))
    log(f"wrote {', '.join([str(doc), *copied])}")


def _read_results(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: not found; pass the folder the device run's files came back to") from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error}); fetch the device run's files again") from error


def _pipeline_tables(scratch: Path, results: dict[str, Any], paper_tables: Path) -> list[str]:
    """Tables 3, 4 and 2 by the pipeline's own ttest and tables stages, when an ensemble was made."""
    if results["ensemble"]["status"] != "done":
        return []
    with contextlib.chdir(scratch):
        ttest(paper_tables=paper_tables)
        tables(paper_tables=paper_tables, reports=Path("reports"))
        return [(Path("reports") / name).read_text() for name in (TABLE3, TABLE4, TABLE2)]


if __name__ == "__main__":
    main(app)
