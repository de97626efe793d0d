"""benchmarks/speed.py's machine-readable record (docs/gpu-speed.json): what one run writes, how a
later run merges into it, and the paper-grid estimate worked out by hand. Eager arms on the CPU:
the compiled path's numbers are tests/test_compile.py's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import speed
from tests.synthetic import cycle_split

ROOT = Path(__file__).resolve().parents[1]
TINY = ["-S", "model.hidden=16", "-S", "model.blocks=1", "-S", "model.heads=2", "-S", "model.max_len=10",
        "-S", "train.batch_size=64"]


def test_each_arm_is_recorded_with_its_warm_figures(tmp_path):
    split = tmp_path / "cycle.parquet"
    cycle_split(n_users=40, n_items=12, seed=0).to_parquet(split, index=False)
    record = tmp_path / "gpu-speed.json"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), str(split), "--variant", "baseline", "--device", "cpu",
         *TINY, "--epochs", "3", "--arm", "fp32:eager", "--arm", "bf16:eager", "--name", "tiny",
         "--record", str(record)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    rows = json.loads(record.read_text())["measurements"]
    arms = [(row["precision"]["eval"], row["compile"]["train"]) for row in rows]
    assert arms == [("bf16", "eager"), ("fp32", "eager")]
    for row in rows:
        assert (row["dataset"], row["name"], row["variant"], row["status"]) == ("cycle", "tiny", "baseline", "done")
        assert row["card"].startswith("CPU") and row["machine"]["torch"].startswith("2.")
        assert row["configuration"]["model"]["hidden"] == 16 and row["configuration"]["train"]["epochs"] == 3
        assert (row["samples"], row["users_evaluated"]) == (331, 40)
        epochs = row["epochs"]
        # Validated after the last two epochs only; the warm figures are the last epoch's.
        assert [epoch["valid_NDCG@10"] is None for epoch in epochs] == [True, False, False]
        assert row["epoch_s"] == epochs[-1]["train_s"] and row["evaluation_s"] == epochs[-1]["valid_s"]
        # The rates are recorded to 0.1 (a loaded machine's 19.04 users/s is 19.0): rel alone fails there.
        assert row["samples_per_s"] == pytest.approx(331 / row["epoch_s"], rel=1e-3, abs=0.051)
        assert row["users_per_s"] == pytest.approx(40 / row["evaluation_s"], rel=1e-3, abs=0.051)


def _row(dataset: str, status: str = "done", epoch_s: float = 1.0, evaluation_s: float = 0.5, **keys) -> dict:
    return {"card": "H200", "dataset": dataset, "name": "paper", "variant": "baseline",
            "precision": {"train": "fp32", "eval": "fp32"}, "compile": {"train": "compiled", "eval": "compiled"},
            "status": status, "epoch_s": epoch_s, "evaluation_s": evaluation_s, **keys}


def test_a_finished_measurement_is_replaced_only_by_another_finished_one(tmp_path):
    record = tmp_path / "gpu-speed.json"
    speed.merge(record, _row("ml-1m", epoch_s=2.0))
    speed.merge(record, _row("ml-1m", status="interrupted", epoch_s=9.0))
    assert [row["epoch_s"] for row in json.loads(record.read_text())["measurements"]] == [2.0]
    speed.merge(record, _row("ml-1m", epoch_s=1.5))
    speed.merge(record, _row("ml-1m", precision={"train": "bf16", "eval": "bf16"}, epoch_s=1.2))
    rows = json.loads(record.read_text())["measurements"]
    assert sorted((row["precision"]["train"], row["epoch_s"]) for row in rows) == [("bf16", 1.2), ("fp32", 1.5)]


def test_the_paper_grid_is_41_epochs_of_15_runs_on_each_dataset_from_its_fastest_float32_row():
    profile = {"datasets": ["amazon-beauty", "ml-1m"], "variants": ["baseline", "v1", "v2"],
               "seeds": [0, 1, 2, 3, 4], "train": {"epochs": 41}}
    rows = [
        _row("amazon-beauty", epoch_s=0.6, evaluation_s=0.4),
        _row("amazon-beauty", epoch_s=1.5, evaluation_s=1.0, compile={"train": "eager", "eval": "eager"}),
        _row("amazon-beauty", epoch_s=0.5, evaluation_s=0.1, precision={"train": "bf16", "eval": "bf16"}),
    ]
    partial = speed.paper_grid(rows, profile)
    assert partial["missing"] == ["ml-1m"] and partial["total_s"] is None
    # Beauty: 41 * (0.6 + 0.4) = 41 s per run; ML-1M: 41 * (2 + 1) = 123 s; 15 runs each.
    grid = speed.paper_grid([*rows, _row("ml-1m", epoch_s=2.0, evaluation_s=1.0)], profile)
    assert grid["datasets"]["amazon-beauty"]["run_s"] == 41.0 and grid["datasets"]["ml-1m"]["run_s"] == 123.0
    assert grid["total_s"] == 15 * (41 + 123)
