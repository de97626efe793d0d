"""benchmarks/device_queue.py, the device lab's command line, on the CPU: a call runs the queue
within its budget into a new ledger file (ours, RecBole's baselines), skipping what the ledger
holds settled; `plan` lists the queue as the ledger leaves it; `ingest` and `report` bring a
call's file home and render it. The official code's runs are in test_device_official.py."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from device import experiments, planner
from device.experiments import Experiment, Run
from device.ledger import FORMAT, PACKING_S, unpack_ranks, users_digest
from diffurec.errors import ConfigError, DataError
from tests.device_support import CPU, METRICS, ROOT, inputs, invoke, ledger_files, run_records


def test_the_command_line_lists_its_verbs_and_refuses_a_bad_input_in_one_line():
    # As a device call runs it: a script, with the project on PYTHONPATH.
    def script(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "device_queue.py"), *args], capture_output=True,
                              text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})

    shown = script("--help")
    assert shown.returncode == 0
    commands = shown.stdout.split("Commands:")[1]
    assert [line.split()[0] for line in commands.strip().splitlines()] == [
        "prepare", "plan", "run", "ingest", "report", "reproduction"]
    refused = script("plan", "--experiment", "G-nope")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip().startswith("error: unknown experiment ['G-nope']; choose from ['E2', ")
    assert len(refused.stderr.strip().splitlines()) == 1


def test_the_queue_skips_settled_runs_and_runs_that_do_not_fit(tmp_path, monkeypatch):
    split, profile = inputs(tmp_path, epochs=4)
    queue = (
        Experiment("EA", "measured by an earlier call", (Run("settled", profile=str(profile)),)),
        Experiment("EB", "a curve with test", (Run("curve", profile=str(profile), test_each_validation=True,
                                                   overrides=("train.eval_every=2",)),)),
        # Another seed: runs that compute the same thing under other names count as one.
        Experiment("EC", "too long for what is left", (Run("huge", profile=str(profile), seed=1),)),
        Experiment("ED", "short", (Run("small", profile=str(profile), overrides=("train.epochs=1",)),)),
    )
    monkeypatch.setattr("device.experiments.QUEUE", queue)
    # Fixed, so that the report's "the code as now" holds while others edit the code meanwhile: the
    # call records the code's hash, the report compares today's with it.
    for where in ("device.call.code_sha256", "device.fidelity_tables.code_sha256"):
        monkeypatch.setattr(where, lambda: "0" * 64)
    dataset = split.stem
    earlier = {
        "spec": planner.spec(queue[0], queue[0].runs[0], dataset, list(CPU)), "settled": True, "status": "done",
        "timing": {"setup_s": 0.1, "epoch_s": 0.1, "valid_s": 0.1, "test_s": 0.1},
    }
    huge = {
        "spec": planner.spec(queue[2], queue[2].runs[0], dataset, list(CPU)), "settled": False, "status": "cut",
        "timing": {"setup_s": 1.0, "epoch_s": 1000.0, "valid_s": 1.0, "test_s": 1.0},
    }
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    (ledger / "2026-01-01T000000Z-nvidia-h200.json").write_text(json.dumps(
        {"format": FORMAT, "call": {}, "experiments": [{"id": "EA", "runs": [earlier]}, {"id": "EC", "runs": [huge]}]}))
    out = tmp_path / "out"
    invoke("run", "--out", out, "--splits", split.parent, "--ledger", ledger, "--budget", 600,
           "--workdir", tmp_path / "work", *[a for s in CPU for a in ("-S", s)])

    (call,) = ledger_files(out)
    assert call["call"]["card"] == "cpu" and call["call"]["torch"] == torch.__version__
    sections = {e["id"]: e for e in call["experiments"]}
    assert sections["EA"]["runs"] == [] and sections["EA"]["not_started"] == [
        {"run": "settled", "reason": "settled in 2026-01-01T000000Z-nvidia-h200.json"}]
    # Its own cut record: 1 s setup, 4 epochs of 1,000 s, 4 validations and a test of 1 s each.
    (skipped,) = sections["EC"]["not_started"]
    assert skipped["run"] == "huge" and skipped["reason"].startswith("needs ~4006 s, ")
    runs = run_records(call)
    assert set(runs) == {"curve", "small"}
    curve, small = runs["curve"], runs["small"]
    assert curve["status"] == small["status"] == "done" and curve["settled"] and not curve["cut"]
    assert [e["epoch"] for e in curve["epochs"]] == [1, 2, 3, 4] and curve["epochs_finished"] == 4
    assert [p["epoch"] for p in curve["validations"]] == [2, 4]
    assert all(set(p["test"]) == set(METRICS) for p in curve["validations"])
    # The test ranked at the best validation is the evaluate stage's test of the kept checkpoint.
    (at_best,) = [p for p in curve["validations"] if p["epoch"] == curve["best_epoch"]]
    assert at_best["test"] == {k: curve["test"][k] for k in METRICS}
    assert at_best["valid"]["NDCG@10"] == curve["best_valid"]["NDCG@10"]
    # `small` was planned from `curve`'s timings (the latest of its recipe), measured in this call:
    # setup, 1 epoch, 1 validation (the last epoch's) and the test.
    timing = curve["timing"]
    assert small["predicted_s"] == round(timing["setup_s"] + timing["epoch_s"] + timing["valid_s"] + timing["test_s"], 1)
    assert small["spec"]["overrides"] == ["train.epochs=1", *CPU] and small["planned_epochs"] == 1
    # Every run of ours keeps the evaluate stage's per-user ranks, users in its order.
    from pipeline.files.run_results import read_ranks
    stage_ranks = read_ranks(tmp_path / "work" / "EB-curve" / "runs" / "eval" / dataset / "baseline" / "seed0" / "ranks.parquet")
    assert unpack_ranks(curve["ranks"]).tolist() == stage_ranks.tolist()
    assert curve["ranks"]["users_sha256"] == users_digest(stage_ranks.index)
    assert curve["seconds_to_best"] <= curve["seconds_total"]

    # The report: a table per experiment naming the ledger file, and the curve with its tests.
    ingested = tmp_path / "ingested"
    (out / "log.txt").write_text("raw log\n")
    invoke("ingest", out, "--ledger", ingested)
    name = call["call"]["ledger"]
    assert (ingested / f"{name}.log").read_text() == "raw log\n"
    text = invoke("report", "--ledger", ingested)
    assert "### EB: a curve with test" in text and "### EA" not in text
    gap = f"{curve['test']['NDCG@10'] / curve['best_valid']['NDCG@10'] - 1:+.1%}"
    assert (f"| curve (baseline, seed 0) | {profile} | `train.eval_every=2 train.device=cpu eval.device=cpu` | done | "
            f"4 of 4 | {curve['best_epoch']} | {curve['best_valid']['NDCG@10']:.4f} | {curve['test']['HR@10']:.4f} | "
            f"{curve['test']['NDCG@10']:.4f} | {gap} |") in text
    assert f"[{name}.json](ledger/{name}.json) |" in text
    assert (f"- [{name}.json](ledger/{name}.json): cpu, torch {torch.__version__}, started {call['call']['started_utc']}, "
            f"budget 600.0 s, ran {call['call']['wall_s']} s; the code as now; raw log [{name}.log](ledger/{name}.log).") in text
    last = curve["validations"][-1]
    assert (f"| 4 | {last['valid']['HR@10']:.4f} | {last['valid']['NDCG@10']:.4f} | {last['test']['HR@10']:.4f} | "
            f"{last['test']['NDCG@10']:.4f} |") in text

    # A second call on the ingested ledger finds what the first one ran settled: nothing starts.
    monkeypatch.setattr("device.experiments.QUEUE", queue[1:2] + queue[3:])
    again = tmp_path / "again"
    invoke("run", "--out", again, "--splits", split.parent, "--ledger", ingested, "--budget", 600,
           *[a for s in CPU for a in ("-S", s)])
    (second,) = ledger_files(again)
    assert run_records(second) == {}
    assert [s["not_started"][0]["reason"] for s in second["experiments"]] == [f"settled in {name}.json"] * 2


def test_the_plan_lists_the_queue_as_the_ledger_leaves_it(tmp_path):
    # The real queue's grid on ML-1M, with seed 0 of DiffuRec settled (and timed) by an earlier call.
    (grid,) = [e for e in experiments.QUEUE if e.id == "G-ml-1m"]
    settled = {"spec": planner.spec(grid, grid.runs[0], "ml-1m", []), "settled": True, "status": "done",
               "timing": {"setup_s": 10.0, "epoch_s": 5.0, "valid_s": 2.0, "test_s": 3.0}}
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    (ledger / "2026-01-01T000000Z-nvidia-h200.json").write_text(json.dumps(
        {"format": FORMAT, "call": {}, "experiments": [{"id": grid.id, "runs": [settled]}]}))
    lines = invoke("plan", "--ledger", ledger, "--experiment", "G-ml-1m").splitlines()
    assert len(lines) == 20
    assert lines[0] == ("G-ml-1m/paper-baseline-seed0: ml-1m, baseline, seed 0; "
                        "settled in 2026-01-01T000000Z-nvidia-h200.json")
    # The others are predicted from that record, the latest of their recipe: 10 s setup, 41 epochs of
    # 5 s, 9 validations of 2 s, a test of 3 s.
    assert lines[3] == "G-ml-1m/paper-control-seed0: ml-1m, control, seed 0; to run, ~236 s"
    assert [line.split(":")[0] for line in lines[4:8]] == [
        f"G-ml-1m/paper-{v}-seed1" for v in ("baseline", "v1", "v2", "control")]
    with pytest.raises(ConfigError, match="unknown experiment"):
        invoke("plan", "--experiment", "G-nope")


def test_a_ledger_file_is_never_overwritten(tmp_path, monkeypatch):
    split, profile = inputs(tmp_path, epochs=1)
    monkeypatch.setattr("device.experiments.QUEUE", (Experiment("EA", "q", (Run("a", profile=str(profile)),)),))
    monkeypatch.setattr("device.call.ledger_name", lambda started, card: "2026-01-01T000000Z-cpu")
    out = tmp_path / "out"
    out.mkdir()
    (out / "2026-01-01T000000Z-cpu.json").write_text("an earlier call's ledger")
    with pytest.raises(DataError, match="2026-01-01T000000Z-cpu.json: exists; a ledger file is never overwritten"):
        invoke("run", "--out", out, "--splits", split.parent, "--ledger", tmp_path / "none", "-S", "train.device=cpu",
               "-S", "eval.device=cpu")
    assert (out / "2026-01-01T000000Z-cpu.json").read_text() == "an earlier call's ledger"

    # Ingesting a call whose file (or log) the ledger already holds copies nothing.
    came_back, ledger = tmp_path / "came-back", tmp_path / "ledger"
    came_back.mkdir()
    ledger.mkdir()
    (came_back / "2026-01-01T000000Z-cpu.json").write_text("new")
    (came_back / "log.txt").write_text("new log")
    (ledger / "2026-01-01T000000Z-cpu.log").write_text("old log")
    with pytest.raises(DataError, match="2026-01-01T000000Z-cpu.log: exists"):
        invoke("ingest", came_back, "--ledger", ledger)
    assert sorted(p.name for p in ledger.iterdir()) == ["2026-01-01T000000Z-cpu.log"]
    assert (ledger / "2026-01-01T000000Z-cpu.log").read_text() == "old log"


def test_a_queued_run_cut_by_the_budget_is_recorded_cut_with_its_finished_epochs(tmp_path, monkeypatch):
    split, profile = inputs(tmp_path, epochs=100_000)
    queue = (Experiment("EA", "q", (Run("endless", profile=str(profile), cut_settles=True),
                                    Run("next", profile=str(profile))),),)
    monkeypatch.setattr("device.experiments.QUEUE", queue)
    out = tmp_path / "out"
    # 100,000 epochs never finish in 8 s; setting up takes far less.
    invoke("run", "--out", out, "--splits", split.parent, "--ledger", tmp_path / "none",
           "--budget", PACKING_S + 8, "-S", "train.device=cpu", "-S", "eval.device=cpu")
    (call,) = ledger_files(out)
    (section,) = call["experiments"]
    (run,) = section["runs"]
    assert section["not_started"] == []  # the queue ended with the cut: `next` was never considered
    assert run["status"] == "cut" and run["cut"] is True and run["test"] is None
    finished = run["epochs"]
    assert finished and [e["epoch"] for e in finished] == list(range(1, len(finished) + 1))
    assert run["epochs_finished"] == len(finished) and all(math.isfinite(e["loss"]) for e in finished)
    assert [p["epoch"] for p in run["validations"]] == [e["epoch"] for e in finished]  # paper: validate every epoch
    assert run["timing"]["epoch_s"] > 0 and run["wall_s"] >= 1
    # Cut before the earliest epoch it could have stopped at (no patience: its last): not settled.
    assert run["settling_epochs"] == 100_000 and run["settled"] is False


def _baseline_profile(profile: Path, epochs: int) -> Path:
    """`profile` with two tiny RecBole baselines."""
    raw = yaml.safe_load(profile.read_text())
    tiny = {"epochs": epochs, "max_len": 5, "train_batch_size": 256, "hidden_size": 8}
    raw["baselines"] = ["SASRec-CE", "GRU4Rec"]
    raw["recbole"]["models"] = {"SASRec-CE": {"model": "SASRec", "loss_type": "CE", "inner_size": 16, **tiny},
                                "GRU4Rec": {"model": "GRU4Rec", "embedding_size": 8, **tiny}}
    raw["recbole"]["threads"] = 1
    path = profile.with_name(f"baselines-{epochs}.yaml")
    path.write_text(yaml.safe_dump(raw))
    return path


def _baseline_queue(profile: Path) -> tuple:
    return (Experiment("B-amazon-beauty", "baselines", tuple(
        Run(f"recbole-{name}", kind="recbole", profile=str(profile), variant=name) for name in ("SASRec-CE", "GRU4Rec"))),)


def test_a_queued_baseline_is_the_baselines_stage_run_recorded_with_its_validations(tmp_path, monkeypatch):
    split, profile = inputs(tmp_path, epochs=1)
    profile = _baseline_profile(profile, epochs=3)
    monkeypatch.setattr("device.experiments.QUEUE", _baseline_queue(profile))
    out = tmp_path / "out"
    invoke("run", "--out", out, "--splits", split.parent, "--ledger", tmp_path / "none", "--experiment",
           "B-amazon-beauty", "--workdir", tmp_path / "work")
    runs = run_records(ledger_files(out)[0])
    sasrec = runs["recbole-SASRec-CE"]
    assert sasrec["status"] == "done" and sasrec["settled"] and not sasrec["cut"] and sasrec["first_of_call"]
    assert sasrec["spec"]["kind"] == "recbole" and sasrec["spec"]["recipe"] == str(profile)
    assert [v["epoch"] for v in sasrec["validations"]] == [1, 2, 3] == [e["epoch"] for e in sasrec["epochs"]]
    assert sasrec["epochs_finished"] == 3 and sasrec["planned_epochs"] == 3 and sasrec["stopped_early"] is False
    assert sasrec["best_valid"]["NDCG@10"] == max(v["valid"]["NDCG@10"] for v in sasrec["validations"])
    assert sasrec["settings"]["model"] == "SASRec" and sasrec["settings"]["loss_type"] == "CE"
    assert runs["recbole-GRU4Rec"]["status"] == "done" and not runs["recbole-GRU4Rec"]["first_of_call"]
    # The same numbers and ranks as the pipeline's baselines stage on the same split and profile.
    from pipeline.files.run_results import read_ranks
    from pipeline.stages.baselines import baselines

    stage_out = tmp_path / "stage" / "SASRec-CE"
    baselines("amazon-beauty", "SASRec-CE", split=split, out=stage_out, params=profile)
    stage = json.loads((stage_out / "metrics.json").read_text())
    assert sasrec["test"] == {key: stage[key] for key in METRICS} and sasrec["test_users"] == stage["users"]
    assert sasrec["best_epoch"] == stage["best_epoch"] and sasrec["seconds_total"] > 0
    stage_ranks = read_ranks(stage_out / "ranks.parquet", "baselines")
    assert unpack_ranks(sasrec["ranks"]).tolist() == stage_ranks.tolist()
    assert sasrec["ranks"]["users_sha256"] == users_digest(stage_ranks.index)


def test_a_baseline_short_of_time_stops_tested_and_settles_only_with_the_whole_call(tmp_path, monkeypatch):
    split, profile = inputs(tmp_path, epochs=1)
    profile = _baseline_profile(profile, epochs=50)
    monkeypatch.setattr("device.experiments.QUEUE", _baseline_queue(profile))
    # Every validation finds too little time left for two more epochs.
    monkeypatch.setattr("device.runners.RECBOLE_RESERVE_EPOCHS", 1e9)
    out = tmp_path / "out"
    invoke("run", "--out", out, "--splits", split.parent, "--ledger", tmp_path / "none")
    runs = run_records(ledger_files(out)[0])
    first, second = runs["recbole-SASRec-CE"], runs["recbole-GRU4Rec"]
    for run in (first, second):
        assert run["status"] == "cut" and run["cut"] and run["epochs_finished"] == 1 and run["best_epoch"] == 1
        assert set(run["test"]) == set(METRICS) and run["stopped_early"] is False and run["ranks"]
    # The call's first run had all the call's time, so no later call would give it more.
    assert first["first_of_call"] and first["settled"]
    assert not second["first_of_call"] and not second["settled"]
    # The next call plans GRU4Rec again, from its own timing, over its whole epoch budget.
    ledger = tmp_path / "ledger"
    invoke("ingest", out, "--ledger", ledger)
    plan = invoke("plan", "--ledger", ledger, "--experiment", "B-amazon-beauty")
    assert "recbole-SASRec-CE: amazon-beauty, SASRec-CE, seed 0; settled in " in plan
    timing = second["timing"]
    expected = timing["setup_s"] + 50 * timing["epoch_s"] + timing["test_s"]
    assert f"recbole-GRU4Rec: amazon-beauty, GRU4Rec, seed 0; to run, ~{expected:.0f} s" in plan
