"""One device call: the queue run in order within the budget into a new ledger file. The planner
decides each run (planner.py's docstring has the rule), its runner runs it, and its record is
settled or not by the ledger's rule; a run that fails is recorded and the queue goes on, and the
budget's alarm ends the call wherever it is, the ledger file saved."""

from __future__ import annotations

import datetime
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from device.experiments import Experiment, Run
from device.ledger import FORMAT, Ledger, code_sha256, ledger_name, read_ledger, settles
from device.lease import BudgetExceeded, alarm, card, log, machine, sha256
from device.planner import Decision, Workload, decide, raw_config, spec, workload
from device.runners import run_official, run_ours, run_recbole

from diffurec.errors import DataError
from diffurec.sequences import SequenceData, encode
from pipeline.files.data_tables import read_split


def run_call(queue: list[Experiment], splits: Path, anchors: Path, budget: float, ledger: Path, extra: list[str],
             out: Path, workdir: Path | None) -> None:
    """Run `queue` within `budget` seconds, skipping what the ledger folder holds settled, into a
    new ledger file in `out`; `extra` overrides every run of ours."""
    tables = {path.stem: path for path in sorted(splits.glob("*.parquet"))}
    if not tables:
        raise DataError(f"{splits}: no split tables; run `python benchmarks/device_queue.py prepare` first")
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
    encoded: dict[str, SequenceData] = {}
    started_any = False
    try:
        with alarm(book.left()):
            for entry in queue:
                section = {"id": entry.id, "question": entry.question, "runs": [], "not_started": []}
                book.results["experiments"].append(section)
                for run in entry.runs:
                    run_spec = spec(entry, run, run.dataset, extra)
                    if run.kind != "official" and run.dataset not in tables:
                        section["not_started"].append({"run": run.name, "reason": f"no {run.dataset}.parquet in {splits}"})
                        continue
                    try:
                        work_of = workload(run, run.dataset, extra)
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
                    record = new_record(run_spec, work_of, decision, book, first=not started_any)
                    started_any = True
                    section["runs"].append(record)
                    if run.kind == "ours" and run.dataset not in encoded:
                        encoded[run.dataset] = encode(read_split(tables[run.dataset]))
                    attempt(entry, run, record, tables.get(run.dataset), anchors, encoded.get(run.dataset), extra,
                            work, book)
                    records.append({**record, "ledger": book.file.name})
    except BudgetExceeded:
        log("budget reached: stopped here")
    finally:
        book.save()
    log(f"done in {book.results['call']['wall_s']:.0f} s: {book.file}")


def new_record(run_spec: dict[str, Any], work: Workload, decision: Decision, book: Ledger,
               first: bool) -> dict[str, Any]:
    return {"spec": run_spec, "status": "running", "settled": False, "cut": False, "first_of_call": first,
            "card": book.results["call"]["card"],
            "torch": torch.__version__, "planned_epochs": work.planned_epochs, "settling_epochs": work.settling_epochs,
            "predicted_s": None if decision.predicted_s is None else round(decision.predicted_s, 1),
            "epochs_finished": 0, "best_epoch": None, "epochs": [], "validations": [], "best_valid": None,
            "test": None, "timing": None, "wall_s": None, "error": None}


def attempt(entry: Experiment, run: Run, record: dict[str, Any], split: Path | None, anchors: Path,
            data: SequenceData | None, extra: list[str], work: Path, book: Ledger) -> None:
    """Run one queued run, recording it done, cut (by the budget, which is then re-raised) or
    failed (an error in this run does not stop the queue: the next may still measure)."""
    began = time.perf_counter()
    folder = work / f"{entry.id}-{run.name}"
    try:
        if run.kind == "official":
            run_official(run, anchors, folder, record, book)
        elif run.kind == "recbole":
            run_recbole(run, split, folder, record, book)
        else:
            run_ours(run, raw_config(run, run.dataset, extra), run.dataset, split, data, folder, record, book)
        record["status"] = "cut" if record["cut"] else "done"
    except BudgetExceeded:
        record.update(status="cut", cut=True)
        raise
    except Exception as error:  # noqa: BLE001 - recorded in the ledger, then the queue goes on
        record.update(status="failed", error=f"{type(error).__name__}: {error}")
        log(f"{entry.id}/{run.name}: failed, {record['error']}")
    finally:
        record["wall_s"] = round(time.perf_counter() - began, 1)
        record["settled"] = settles(record, run)
        book.save()
    log(f"{entry.id}/{run.name}: {record['status']} in {record['wall_s']} s, best epoch {record['best_epoch']}, "
        f"test NDCG@10 {(record['test'] or {}).get('NDCG@10')}")
