"""The ledger (docs/ledger/, format in its README.md): one JSON file per device call, never
overwritten, so it only grows. Reading every file's run records, the one file a call writes
(rewritten after every epoch, so a cut call keeps what it did), the rule that settles a record
(no later call runs it again), the per-user ranks packed as text, and `ingest`, which brings a
call's file and log home."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import shutil
import statistics
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from device import ROOT
from device.experiments import Run
from device.lease import log

from diffurec.errors import DataError
from pipeline.files.atomic_write import write_json, write_with

LEDGER = ROOT / "docs" / "ledger"
FORMAT = 1
METRICS = ("HR@5", "NDCG@5", "HR@10", "NDCG@10", "HR@20", "NDCG@20")
# Kept free at the end of the budget for writing the ledger file a last time.
PACKING_S = 15.0


def median_s(values: list[float]) -> float | None:
    """Timings are recorded as medians, to the millisecond."""
    return round(statistics.median(values), 3) if values else None


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


def code_sha256() -> str:
    """One hash of the model and pipeline code a call ran (the device copy has no git); `report`
    says for each ledger file whether today's code still hashes the same."""
    digest = hashlib.sha256()
    for path in sorted([*(ROOT / "diffurec").rglob("*.py"), *(ROOT / "pipeline").rglob("*.py")]):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def ledger_name(started: datetime.datetime, card_name: str) -> str:
    """`<UTC time>-<card>`, e.g. 2026-11-30T120501Z-nvidia-h200."""
    slug = re.sub(r"[^a-z0-9]+", "-", card_name.lower()).strip("-")
    return f"{started:%Y-%m-%dT%H%M%SZ}-{slug}"


@dataclass
class Ledger:
    """The ledger file of one call, `results` as written to it, and the clock of the call's budget."""

    out: Path
    budget: float
    name: str
    started: float = field(default_factory=time.perf_counter)
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return self.out / f"{self.name}.json"

    def left(self) -> float:
        """Seconds left of the budget, less the PACKING_S kept for the last write."""
        return self.budget - PACKING_S - (time.perf_counter() - self.started)

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


def settles(record: dict[str, Any], run: Run) -> bool:
    """Whether a finished attempt of `run` is measured for good, so that no later call runs it again."""
    cut = record["status"] == "cut"
    return (
        record["status"] == "done"
        or (cut and run.cut_settles and record["epochs_finished"] >= record["settling_epochs"])
        # A baseline cut although it had the whole call, and tested: no later call gives it more.
        or (cut and run.kind == "recbole" and record["first_of_call"] and record["test"] is not None)
    )


def pack_ranks(ranks: pd.Series) -> dict[str, str]:
    """Per-user test ranks (indexed by user id, sorted) as ledger text: int32 little-endian,
    zlib-compressed, base64 (~60 KB for Beauty's 22,363 users), with a digest of the user ids
    so that two runs' ranks pair up only when they rank the same users in the same order."""
    return {"users_sha256": users_digest(ranks.index),
            "int32_zlib_base64": base64.b64encode(zlib.compress(ranks.to_numpy().astype("<i4").tobytes(), 9)).decode()}


def unpack_ranks(packed: dict[str, str]) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(packed["int32_zlib_base64"])), dtype="<i4").astype(np.int64)


def users_digest(users) -> str:
    return hashlib.sha256("\n".join(map(str, users)).encode()).hexdigest()


def ingest(files_at: Path, ledger: Path) -> None:
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
