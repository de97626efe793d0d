"""Shared by the device lab's tests: a learnable split with a profile sized for the CPU, the lab's
command line run in-process, the ledger files a call wrote, and ledger records of the grid's runs
and baselines fabricated from given ranks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from device.experiments import GRID_OVERRIDES, GRID_RECIPE
from device.ledger import pack_ranks
from typer.testing import CliRunner

import device_queue
from diffurec.metrics import summarize
from tests.synthetic import cycle_split

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20")
CPU = ("train.device=cpu", "eval.device=cpu")
KS = (5, 10, 20)
# The test users of fabricated records, in the order the evaluate stage ranks them (sorted by id).
USERS = [f"u{u:02d}" for u in range(1, 61)]


def inputs(tmp_path: Path, epochs: int) -> tuple[Path, Path]:
    """A learnable split saved under a paper dataset's name, and a profile sized for a CPU."""
    split = tmp_path / "amazon-beauty.parquet"
    cycle_split(n_users=120, n_items=30, seed=4).to_parquet(split, index=False)
    profile = yaml.safe_load((ROOT / "profiles" / "paper.yaml").read_text())
    profile["model"].update(hidden=16, blocks=1, heads=2, max_len=10)
    profile["train"].update(epochs=epochs, batch_size=64, lr=0.005, device="cpu")
    profile["eval"].update(batch_size=64, device="cpu")
    profile["seeds"] = [0, 1]
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
    return split, tmp_path / "profile.yaml"


def invoke(*args: str | Path) -> str:
    """Run `benchmarks/device_queue.py ARGS` in this process; its output, once it succeeded."""
    result = CliRunner().invoke(device_queue.app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def ledger_files(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def run_records(ledger: dict) -> dict[str, dict]:
    """A ledger file's run records by run name."""
    return {run["spec"]["run"]: run for experiment in ledger["experiments"] for run in experiment["runs"]}


def grid_record(dataset: str, variant: str, seed: int, ranks: np.ndarray, *, status: str = "done",
                overrides: tuple[str, ...] = GRID_OVERRIDES) -> dict:
    """A run of ours of the grid's recipe that ranked USERS' test items at `ranks`."""
    packed = pack_ranks(pd.Series(ranks, index=pd.Index(USERS, name="user_id")))
    return {
        "spec": {"experiment": f"G-{dataset}", "run": f"paper-{variant}-seed{seed}", "kind": "ours", "dataset": dataset,
                 "variant": variant, "seed": seed, "recipe": GRID_RECIPE, "overrides": list(overrides),
                 "args": []},
        "status": status, "card": "NVIDIA H200", "best_epoch": 40 + seed % 2, "seconds_to_best": 60.0 + seed,
        "seconds_total": 62.0 + seed, "test": summarize(ranks, KS), "ranks": packed,
    }


def baseline_record(model: str, name: str, ranks: np.ndarray, *, settled: bool = True, stopped_early: bool = True,
                    cut: bool = False, recipe: str = GRID_RECIPE, dataset: str = "amazon-beauty") -> dict:
    """A RecBole baseline of the grid's recipe (RecBole model `model`, named `name`) that ranked USERS'
    test items at `ranks`."""
    return {
        "spec": {"experiment": f"B-{dataset}", "run": f"recbole-{name}", "kind": "recbole",
                 "dataset": dataset, "variant": name, "seed": 0, "recipe": recipe, "overrides": [], "args": []},
        "status": "cut" if cut else "done", "settled": settled, "cut": cut, "card": "NVIDIA H200",
        "best_epoch": 30, "epochs_finished": 41, "stopped_early": stopped_early, "seconds_total": 95.5,
        "settings": {"model": model, "loss_type": "CE", "epochs": 300, "stopping_step": 10, "max_len": 100},
        "test": summarize(ranks, KS),
        "ranks": pack_ranks(pd.Series(ranks, index=pd.Index(USERS, name="user_id"))),
    }
