"""The train and evaluate commands as DVC runs them: outputs, interruption and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from tests.synthetic import cycle_split

# Long enough that the interrupt, sent as soon as the first epoch's resume state appears, lands
# well before the run ends even when the machine is busy (with 4 epochs, a CI run once finished first).
EPOCHS = 8
PARAMS = {
    "model": {"hidden": 32, "blocks": 1, "heads": 2, "max_len": 10},
    "train": {"epochs": EPOCHS, "batch_size": 32, "lr": 0.005, "device": "cpu"},
    "eval": {"batch_size": 64, "device": "cpu"},
}


def _workdir(tmp_path: Path) -> Path:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    cycle_split(n_users=150, n_items=40, seed=3).to_parquet(tmp_path / "split.parquet", index=False)
    return tmp_path


def _train_command(out: str, resume: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", "train", "ml-100k", "v2", "0",
            "--split", "split.parquet", "--out", out, "--resume-file", resume]


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": "1"}


def _run(workdir: Path, command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=_env())
    assert done.returncode == 0, done.stderr
    return done


def _interrupt_after_an_epoch(workdir: Path, out: str, resume: str) -> int:
    """Start a training run, Ctrl-C it once its first resume state is on disk; its exit code."""
    # Ctrl-C's default action in the child whatever this process inherited (a shell's background
    # job may start with SIGINT ignored, and an ignored signal stays ignored across exec).
    process = subprocess.Popen(_train_command(out, resume), cwd=workdir, env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (workdir / resume).exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=60)


def _evaluated_run(tmp_path: Path) -> tuple[Path, dict, Path]:
    """A project with ml-100k's split at its pipeline path, v1 seed 0 trained for one epoch and
    evaluated; returns (workdir, its params, the split)."""
    workdir = _workdir(tmp_path)
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["train"]["epochs"] = 1
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    split = workdir / "data" / "split" / "ml-100k.parquet"
    split.parent.mkdir(parents=True)
    (workdir / "split.parquet").rename(split)
    _run(workdir, [sys.executable, "-m", "pipeline", "train", "ml-100k", "v1", "0"])
    _run(workdir, [sys.executable, "-m", "pipeline", "evaluate", "ml-100k", "v1", "0"])
    return workdir, params, split


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def test_interrupted_training_resumes_and_ends_like_an_uninterrupted_run(tmp_path: Path) -> None:
    workdir = _workdir(tmp_path)
    _run(workdir, _train_command("straight", "straight.pt"))
    assert not (workdir / "straight.pt").exists(), "the resume state is removed once the run is complete"

    assert _interrupt_after_an_epoch(workdir, "cut", "cut.pt") != 0, "the run finished before it could be interrupted"
    assert (workdir / "cut.pt").exists()
    assert not (workdir / "cut" / "model.pt").exists(), "no finished output from an interrupted run"
    assert not list(workdir.glob("cut/.*.tmp")) and not list(workdir.glob(".cut.*")), "no temporary file left behind"

    resumed = _run(workdir, _train_command("cut", "cut.pt"))
    assert "resuming ml-100k/v2/seed0 after epoch" in resumed.stderr

    straight = json.loads((workdir / "straight" / "train.json").read_text())
    cut = json.loads((workdir / "cut" / "train.json").read_text())
    assert cut["best_epoch"] == straight["best_epoch"]
    assert cut["best_valid"] == straight["best_valid"]
    history = [pd.read_csv(workdir / run / "history.tsv", sep="\t") for run in ("straight", "cut")]
    assert history[0]["loss"].tolist() == history[1]["loss"].tolist()
    assert len(history[0]) == EPOCHS
    for name, tensor in _weights(workdir / "straight" / "model.pt").items():
        assert torch.equal(tensor, _weights(workdir / "cut" / "model.pt")[name]), name


def test_a_resume_state_from_other_params_is_not_taken_up(tmp_path: Path) -> None:
    workdir = _workdir(tmp_path)
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["train"]["epochs"] = 2
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    _interrupt_after_an_epoch(workdir, "run", "state.pt")

    params["model"]["hidden"] = 16
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    fresh = _run(workdir, _train_command("run", "state.pt"))
    assert "resuming" not in fresh.stderr
    assert json.loads((workdir / "run" / "train.json").read_text())["epochs"] == 2


def test_cut_offs_beyond_the_number_of_items_are_refused_before_any_work(tmp_path: Path) -> None:
    workdir = _workdir(tmp_path)
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["eval"]["ks"] = [10, 50]
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    split = workdir / "data" / "split" / "ml-100k.parquet"
    split.parent.mkdir(parents=True)
    (workdir / "split.parquet").rename(split)
    expected = ("error: params: eval.ks lists 50, but ml-100k has only 40 items after filtering, so HR@50 would be "
                "1 for any model; lower eval.ks to at most 40 (it is [10, 50])\n")
    # No model is trained: evaluate and ensemble refuse before they look for one.
    for command in (["train", "ml-100k", "v1", "0"], ["evaluate", "ml-100k", "v1", "0"], ["ensemble", "ml-100k", "v1"],
                    ["baselines", "ml-100k", "GRU4Rec"]):
        done = subprocess.run([sys.executable, "-m", "pipeline", *command], cwd=workdir, capture_output=True,
                              text=True, env=_env())
        assert (done.returncode, done.stderr) == (2, expected), command
    assert not (workdir / "runs").exists()


def test_evaluate_writes_metrics_and_a_rank_per_user(tmp_path: Path) -> None:
    workdir, params, split = _evaluated_run(tmp_path)

    out = workdir / "runs" / "eval" / "ml-100k" / "v1" / "seed0"
    metrics = json.loads((out / "metrics.json").read_text())
    ranks = pd.read_parquet(out / "ranks.parquet")
    users = pd.read_parquet(split)["user_id"].tolist()
    assert ranks["user_id"].tolist() == users
    assert metrics["users"] == len(users)
    assert metrics["HR@10"] == round(float((ranks["rank"] <= 10).mean()), 6)
    assert ranks["rank"].between(1, 40).all()


def test_the_same_weights_give_the_same_checkpoint_bytes(tmp_path: Path) -> None:
    # DVC compares outputs by hash: a rerun that reproduces the weights must reproduce model.pt.
    from diffurec.config import ModelConfig
    from diffurec.train import build_model
    from pipeline.files.checkpoint import load_model, save_model

    model = build_model(40, ModelConfig(hidden=16, blocks=1, heads=2, max_len=10), "v2", seed=0)
    items = [f"i{k}" for k in range(40)]
    save_model(tmp_path / "first.pt", model, items)
    save_model(tmp_path / "second-name.pt", model, items)
    assert (tmp_path / "first.pt").read_bytes() == (tmp_path / "second-name.pt").read_bytes()
    loaded, loaded_items = load_model(tmp_path / "second-name.pt", torch.device("cpu"))
    assert loaded_items == items
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)


def test_a_damaged_checkpoint_is_one_error_naming_it_and_a_damaged_resume_state_is_ignored(tmp_path: Path) -> None:
    import dataclasses

    import pytest

    from diffurec.config import ModelConfig
    from diffurec.errors import DataError
    from diffurec.train import build_model
    from pipeline.files.checkpoint import load_model, load_resume, save_model

    model = build_model(40, ModelConfig(hidden=16, blocks=1, heads=2, max_len=10), "v2", seed=0)
    good = tmp_path / "good.pt"
    save_model(good, model, [f"i{k}" for k in range(40)])
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all")
    (tmp_path / "truncated.pt").write_bytes(good.read_bytes()[:2000])
    torch.save([1, 2, 3], tmp_path / "list.pt")
    foreign = torch.load(good, weights_only=True)
    foreign["model_config"] = {**dataclasses.asdict(model.config), "bogus": 1}
    torch.save(foreign, tmp_path / "foreign-config.pt")
    for name in ("garbage.pt", "truncated.pt", "list.pt", "foreign-config.pt"):
        path = tmp_path / name
        with pytest.raises(DataError, match=rf"{name}: not a readable model checkpoint .*delete it and rerun"):
            load_model(path, torch.device("cpu"))
        assert load_resume(path, "any fingerprint") is None


def test_evaluation_outputs_replace_the_old_ones_together_or_not_at_all(tmp_path: Path, monkeypatch) -> None:
    import numpy as np
    import pytest

    from diffurec.sequences import encode
    from pipeline.files.run_results import write_evaluation
    from tests.synthetic import tiny_config

    data = encode(cycle_split(n_users=20, n_items=10, seed=0))
    ranks = np.arange(1, 21) % 10 + 1
    out = tmp_path / "seed0"
    out.mkdir()
    (out / "metrics.json").write_text("old metrics")
    (out / "ranks.parquet").write_text("old ranks")

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(pd.DataFrame, "to_parquet", disk_full)
        with pytest.raises(OSError, match="No space left"):
            write_evaluation(out, data.users, ranks, tiny_config().eval)
    # metrics.json was written before the failure, but only into the staging folder.
    assert (out / "metrics.json").read_text() == "old metrics"
    assert (out / "ranks.parquet").read_text() == "old ranks"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["seed0"]

    write_evaluation(out, data.users, ranks, tiny_config().eval)
    assert sorted(path.name for path in out.iterdir()) == ["metrics.json", "ranks.parquet"]
    assert json.loads((out / "metrics.json").read_text())["users"] == 20
    assert pd.read_parquet(out / "ranks.parquet")["rank"].tolist() == ranks.tolist()


def test_the_printed_algorithm_3_ensembles_the_first_seeds_model_over_inference_seeds(tmp_path: Path) -> None:
    workdir, params, _ = _evaluated_run(tmp_path)

    def ensemble(reading: str, seeds: list[int]) -> subprocess.CompletedProcess:
        params.update(seeds=seeds, eval={**params["eval"], "ensemble": reading})
        (workdir / "params.yaml").write_text(yaml.safe_dump(params))
        return subprocess.run([sys.executable, "-m", "pipeline", "ensemble", "ml-100k", "v1"], cwd=workdir,
                              capture_output=True, text=True, env=_env())

    ranks = workdir / "runs" / "ensemble" / "ml-100k" / "v1" / "ranks.parquet"
    evaluated = pd.read_parquet(workdir / "runs" / "eval" / "ml-100k" / "v1" / "seed0" / "ranks.parquet")
    # One inference seed: exactly the evaluation of seed 0.
    assert ensemble("inference", [0]).returncode == 0
    assert pd.read_parquet(ranks).equals(evaluated)
    # Seed 1 was never trained: the printed reading needs only seed 0's model, ours needs both.
    assert ensemble("inference", [0, 1]).returncode == 0
    # The inference seeds only redraw x_T, lambda and the reverse noise, which barely reach x0_hat
    # (benchmarks/sensitivity.py), so averaging over them leaves almost every rank as it was.
    agree = (pd.read_parquet(ranks)["rank"] == evaluated["rank"]).mean()
    assert agree >= 0.95
    refused = ensemble("runs", [0, 1])
    assert refused.returncode != 0 and "seed1/model.pt" in refused.stderr
