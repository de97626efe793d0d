"""Shared by the device lab's tests: a learnable split with a profile sized for the CPU, the lab's
command line run in-process, and the ledger files a call wrote."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

import device_queue
from tests.synthetic import cycle_split

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20")
CPU = ("train.device=cpu", "eval.device=cpu")


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
