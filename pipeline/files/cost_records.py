"""One record per DVC stage that ran on this machine: its measured seconds and where they were
measured. `runs/cost/<stage>.json`, written by every stage DVC starts (`pipeline.app.main`), read by
the cost stage.

A stage knows it runs under DVC, and its name there, from the DVC_STAGE variable DVC sets for
every stage command (e.g. `train-v1@ml-100k-0`); a command run by hand writes no record. A stage
restored from DVC's run-cache does not run, so it writes none either: the cost report counts what
this machine computed. The records are no DVC output (declaring one per stage would put measured
seconds in every stage's outputs): `dvc checkout` of another experiment leaves the latest records
in place, and the cost stage then reports those.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from dataclasses import asdict
from pathlib import Path

from diffurec.errors import DataError
from diffurec.report.cost import StageCost
from pipeline import cpu_pins, layout, machine
from pipeline.files.atomic_write import write_json

STAGE_VARIABLE = "DVC_STAGE"


def record_file(stage: str, runs: Path = layout.RUNS) -> Path:
    return runs / "cost" / f"{stage}.json"


def record_stage(started: float, runs: Path = layout.RUNS) -> StageCost | None:
    """Write this process's record if DVC started it (DVC_STAGE set); `started`: its perf_counter
    at the first import. Returns the record, or None outside DVC."""
    stage = os.environ.get(STAGE_VARIABLE)
    if not stage:
        return None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    record = StageCost(
        stage=stage,
        command=sys.argv[1:],
        seconds=round(time.perf_counter() - started, 3),
        cpu_seconds=round(time.process_time(), 3),
        # Linux reports ru_maxrss in KiB.
        peak_memory_mib=round(usage.ru_maxrss / 1024, 1),
        processor=machine.processor(),
        vector_level=machine.vector_level(),
        threads=machine.threads(),
        pins=cpu_pins.enabled(),
    )
    write_json(record_file(stage, runs), asdict(record))
    return record


def read_records(runs: Path = layout.RUNS) -> list[StageCost]:
    """Every stage record under `runs`, by stage name."""
    records = []
    for path in sorted((runs / "cost").glob("*.json")):
        try:
            records.append(StageCost(**json.loads(path.read_text())))
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as error:
            raise DataError(f"{path}: not a stage cost record ({error}); delete it and rerun that stage") from error
    return records
