"""The CPU pins: set before torch loads in every stage's process, whatever the shell set, unless
switched off; and recorded, with the stage's seconds, where the cost report finds them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from pipeline import cpu_pins
from tests.synthetic import cycle_split

ROOT = Path(__file__).resolve().parents[1]
# What a shell might have set: every library left to its own level, one thread.
UNPINNED_SHELL = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "AUTO", "OMP_NUM_THREADS": "1"}


def test_apply_sets_every_pin_over_what_the_shell_set():
    environ = dict(UNPINNED_SHELL)
    assert cpu_pins.apply(environ)
    assert {name: environ[name] for name in cpu_pins.PINS} == cpu_pins.PINS
    assert cpu_pins.in_force(environ) == cpu_pins.PINS


def test_switched_off_the_pins_leave_the_environment_alone():
    environ = {**UNPINNED_SHELL, cpu_pins.SWITCH: "off"}
    assert not cpu_pins.apply(environ)
    assert environ == {**UNPINNED_SHELL, cpu_pins.SWITCH: "off"}
    assert cpu_pins.in_force(environ) == {}


def _train_one_epoch(tmp_path: Path, **env: str) -> dict:
    """Run the train stage as DVC would (DVC_STAGE set) from an unpinned shell; its cost record."""
    params = {"model": {"hidden": 16, "blocks": 1, "heads": 2, "max_len": 8},
              "train": {"epochs": 1, "batch_size": 32, "device": "cpu"}, "eval": {"batch_size": 64, "device": "cpu"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    cycle_split(n_users=40, n_items=20, seed=1).to_parquet(tmp_path / "split.parquet", index=False)
    # Start from a clean shell: this test process may hold the pins (or DIFFUREC_CPU_PINS=off, conftest.py).
    inherited = {name: value for name, value in os.environ.items() if name not in cpu_pins.PINS}
    environment = {**inherited, "PYTHONPATH": str(ROOT), "DVC_STAGE": "train-v1@ml-100k-0", **UNPINNED_SHELL,
                   cpu_pins.SWITCH: "on", **env}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "train", "ml-100k", "v1", "0", "--split", "split.parquet",
         "--out", "run", "--resume-file", "resume.pt"],
        cwd=tmp_path, env=environment, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads((tmp_path / "runs" / "cost" / "train-v1@ml-100k-0.json").read_text())


def test_a_stage_process_computes_under_the_pins_and_records_its_cost(tmp_path):
    record = _train_one_epoch(tmp_path)
    assert record["pins"] is True
    # The shell asked ATen for its scalar kernels and one thread; the pins won.
    assert record["vector_level"] == "AVX2"
    assert record["threads"] == int(cpu_pins.THREADS)
    assert record["command"][:4] == ["train", "ml-100k", "v1", "0"]
    assert 0 < record["cpu_seconds"] and 0 < record["seconds"]


def test_switched_off_a_stage_process_keeps_the_shells_settings(tmp_path):
    record = _train_one_epoch(tmp_path, **{cpu_pins.SWITCH: "off"})
    assert record["pins"] is False
    assert record["vector_level"] == "DEFAULT"
    assert record["threads"] == 1


def _denormals_left(**env: str) -> int:
    """In a fresh process that imports `pipeline` as a stage does: how many of 4M products of a
    denormal by 1 stay non-zero, the work split over torch's threads."""
    inherited = {name: value for name, value in os.environ.items() if name not in cpu_pins.PINS}
    code = "import pipeline, torch; x = torch.full((4_000_000,), 1e-39); print(int(((x * 1.0) != 0).sum()))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**inherited, **env},
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_the_pins_flush_denormals_in_every_thread_of_torchs_pool():
    assert _denormals_left(**{cpu_pins.SWITCH: "on"}) == 0
    assert _denormals_left(**{cpu_pins.SWITCH: "off"}) == 4_000_000
