"""benchmarks/gpu_reproduction.py, run on CPU: the budgeted run, what it packs, and the document
rendered from it; plus the paper comparison in benchmarks/reproduction.py against hand-computed values."""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import gpu_reproduction
from diffurec.train import fit
from reproduction import compare, reading
from tests.synthetic import cycle_split

ROOT = Path(__file__).resolve().parents[1]

METRICS = ("HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20")


def test_comparison_with_a_paper_std_matches_hand_computation():
    ours = {metric: [0.05, 0.06] for metric in METRICS}
    (first, *_) = compare(ours, [0.0556] * 6, [0.0012] * 6, METRICS)
    assert first.mean == pytest.approx(0.055)
    assert first.std == pytest.approx(math.sqrt(0.00005))
    assert first.difference == pytest.approx(-0.0006)
    assert first.relative == pytest.approx(-0.0006 / 0.0556)
    assert first.in_paper_stds == pytest.approx(-0.5)
    assert first.within_paper_std is True
    far = compare({m: [0.04] for m in METRICS}, [0.0556] * 6, [0.0012] * 6, METRICS)
    assert far[0].std is None and far[0].within_paper_std is False
    assert far[0].in_paper_stds == pytest.approx(-13.0)
    assert reading("v1", far) == ("Modified V1: within one paper std on 0 of 6 metrics, below the paper's mean on 6; "
                                  "the largest gap is HR@5 (-28.1%), -13.0 paper stds.")


def test_comparison_without_a_paper_std_reports_the_relative_gap_only():
    rows = compare({m: [0.06, 0.04] for m in METRICS}, [0.0400] * 6, None, METRICS)
    assert rows[0].in_paper_stds is None and rows[0].within_paper_std is None
    assert rows[0].relative == pytest.approx(0.25)
    assert "below the published value on 0 of 6 metrics" in reading("baseline", rows)


def test_plans_come_from_the_runs_timed_so_far():
    assert gpu_reproduction.plan_next("v1", {"baseline": 10.0}) == 15.0
    assert gpu_reproduction.plan_next("baseline", {"baseline": 10.0, "v1": 30.0}) == 10.0
    assert gpu_reproduction.plan_next("v2", {"baseline": 10.0, "v1": 30.0}) == 45.0
    # Two seeds of three variants; v2's evaluation not timed yet counts as the slowest's (3 s).
    assert gpu_reproduction.ensemble_estimate_s(2, {"baseline": 2.0, "v1": 3.0}, ["baseline", "v1", "v2"]) == 16.0


def test_complete_seeds_need_every_variant():
    runs = [{"variant": v, "seed": s, "status": "done"} for s in (0, 1) for v in ("baseline", "v1")]
    runs.append({"variant": "v2", "seed": 0, "status": "done"})
    runs.append({"variant": "v2", "seed": 1, "status": "interrupted"})
    assert gpu_reproduction.complete_seeds(runs, ["baseline", "v1", "v2"]) == [0]
    assert gpu_reproduction.complete_seeds(runs, ["baseline", "v1"]) == [0, 1]


def _inputs(tmp_path: Path, epochs: int) -> tuple[Path, Path]:
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


def _invoke(*args: str | Path) -> None:
    result = CliRunner().invoke(gpu_reproduction.app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_a_run_within_budget_trains_every_seed_and_renders_the_document(tmp_path):
    split, profile = _inputs(tmp_path, epochs=2)
    out = tmp_path / "out"
    _invoke("run", split, "--out", out, "--profile", profile, "--budget", 600, "--speed-epochs", 1,
            "-S", "train.eval_every=2", "--workdir", tmp_path / "work")
    (out / "log.txt").write_text("the raw log\n")

    results = json.loads((out / "results.json").read_text())
    assert results["speed"]["status"] == "done" and len(results["speed"]["epoch_s"]) == 1
    assert [(r["variant"], r["seed"], r["status"]) for r in results["runs"]] == [
        (v, s, "done") for s in (0, 1) for v in ("baseline", "v1", "v2", "control")
    ]
    assert results["complete_seeds"] == [0, 1] and results["ensemble"]["status"] == "done"
    assert results["overrides"] == ["train.eval_every=2"]
    with tarfile.open(out / "runs.tar.gz") as tar:
        names = tar.getnames()
        packed = yaml.safe_load(tar.extractfile("params.yaml"))
    assert "runs/eval/amazon-beauty/v2/seed1/ranks.parquet" in names
    assert "runs/ensemble/amazon-beauty/v1/metrics.json" in names
    assert not any(name.endswith(".pt") for name in names)
    assert packed["seeds"] == [0, 1] and packed["train"]["eval_every"] == 2

    doc, log_copy = tmp_path / "reproduction.md", tmp_path / "reproduction-log.txt"
    _invoke("report", out, "--doc", doc, "--log-copy", log_copy, "--speed-log-copy", tmp_path / "speed-log.txt")
    text = doc.read_text()
    assert log_copy.read_text() == "the raw log\n"
    assert not (tmp_path / "speed-log.txt").exists() and "separate device call" not in text
    v1 = [r["test"]["NDCG@10"] for r in results["runs"] if r["variant"] == "v1"]
    mean = sum(v1) / 2
    std = abs(v1[0] - v1[1]) / math.sqrt(2)
    paper = 0.0556
    assert (f"| Modified V1 | NDCG@10 | {mean:.4f} ± {std:.4f} (2 seeds) | 0.0556 ± 0.0012 | "
            f"{mean - paper:+.4f} |") in text
    assert "| DiffuRec | NDCG@10 |" in text and "| 0.0475 |" in text
    assert "## Pipeline report: Table 3" in text and "### Amazon Beauty (`amazon-beauty`)" in text
    assert "## Pipeline report: Table 2" in text
    # profiles/paper.yaml computes in float32 as the paper does, on every device.
    assert results["precision"] == {"train": "fp32", "eval": "fp32", "device": "cpu"}
    assert ("- Precision on cpu: training in float32 (train.precision `fp32`), evaluation in float32 "
            "(eval.precision `fp32`); the paper and the official code compute in float32.") in text
    epoch = results["speed"]["epoch_s"][-1]
    assert (f"| Training epoch ({results['split']['samples']:,} samples) | {epoch:.2f} s "
            f"({results['split']['samples'] / epoch:,.0f} samples/s) | "
            f"{18.4 / epoch:.1f}x faster than the official code's 18.4 s on an H100 |") in text
    assert "stopped" not in results
    assert results["speed"]["precision"] == {"train": "fp32", "eval": "fp32", "device": "cpu"}
    assert "start-up is included). Precision on cpu: training in float32 (train.precision `fp32`)" in text
    done = results["runs"]
    valid = sum(r["train"]["best_valid"]["NDCG@10"] for r in done) / 8
    test = sum(r["test"]["NDCG@10"] for r in done) / 8
    assert (f"Over these 8 runs the best epoch's validation NDCG@10 averages {valid:.4f} and the test NDCG@10 "
            f"{test:.4f} ({test / valid - 1:+.1%}).") in text
    # The control is listed under its own name; the paper has no row for it.
    assert "| Transformer, no diffusion | 1 | done |" in text and "\n| Transformer, no diffusion | NDCG@10 |" not in text
    # x_t enters as lambda * (x_t + d), lambda ~ N(0.001, 0.001): far weaker than the history. The
    # control has no x_t: no sensitivity is measured for it.
    diffusion = [r for r in done if r["variant"] != "control"]
    assert all(r["sensitivity"]["t"] == 31 and 0 < 100 * r["sensitivity"]["x_t"] < r["sensitivity"]["history"]
               for r in diffusion)
    assert not any("sensitivity" in r for r in done if r["variant"] == "control")
    baseline = [r["sensitivity"] for r in done if r["variant"] == "baseline"]
    assert (f"(`benchmarks/sensitivity.py`, 120 test users, t = 31): its mean relative change when x_t is redrawn is "
            f"DiffuRec {sum(s['x_t'] for s in baseline) / 2:.1e} (history {sum(s['history'] for s in baseline) / 2:.2f}), "
            "Modified V1 ") in text


def test_the_speed_benchmark_of_another_call_replaces_the_runs_own(tmp_path):
    split, profile = _inputs(tmp_path, epochs=1)
    runs, speed = tmp_path / "runs", tmp_path / "speed"
    _invoke("run", split, "--out", runs, "--profile", profile, "--speed-epochs", 0, "-S", "seeds=[0]",
            "--workdir", tmp_path / "work-runs")
    _invoke("run", split, "--out", speed, "--profile", profile, "--speed-epochs", 2, "--variant", "baseline",
            "-S", "seeds=[0]", "--workdir", tmp_path / "work-speed")
    (speed / "log.txt").write_text("the speed call's log\n")
    doc = tmp_path / "reproduction.md"
    _invoke("report", runs, "--doc", doc, "--log-copy", tmp_path / "log.txt", "--speed-from", speed,
            "--speed-log-copy", tmp_path / "speed-log.txt")
    text = doc.read_text()
    source = json.loads((speed / "results.json").read_text())
    assert (tmp_path / "speed-log.txt").read_text() == "the speed call's log\n"
    assert f"Measured by a separate device call: `{source['command']}` (started {source['started_utc']}, " in text
    assert "raw log: [speed-log.txt](speed-log.txt))." in text
    assert source["speed"]["status"] == "done" and len(source["speed"]["epoch_s"]) == 2
    epoch = source["speed"]["epoch_s"][-1]
    assert f"epochs timed: {source['speed']['epoch_s']} s; the last is quoted, warm." in text
    assert f"| Training epoch ({source['split']['samples']:,} samples) | {epoch:.2f} s " in text
    # The runs come from the other call: one seed of every model.
    assert "| DiffuRec | 0 | done | 1 of 1 |" in text and "| Modified V2 | 0 | done | 1 of 1 |" in text
    assert "| Transformer, no diffusion | 0 | done | 1 of 1 |" in text


def test_a_run_that_would_not_fit_is_not_started(tmp_path, monkeypatch):
    # The first run always starts; the plan says the next needs a day.
    monkeypatch.setattr(gpu_reproduction, "plan_next", lambda variant, timed: 86_400.0)
    split, profile = _inputs(tmp_path, epochs=1)
    out = tmp_path / "out"
    _invoke("run", split, "--out", out, "--profile", profile, "--speed-epochs", 0, "--workdir", tmp_path / "work")
    results = json.loads((out / "results.json").read_text())
    assert [(r["variant"], r["seed"], r["status"]) for r in results["runs"]] == [("baseline", 0, "done")]
    assert results["stopped"].startswith("before v1 seed 0: it and the ensemble need ~86")
    doc = tmp_path / "reproduction.md"
    _invoke("report", out, "--doc", doc, "--log-copy", tmp_path / "log.txt")
    assert f"No further run was started: {results['stopped']}." in doc.read_text()


def test_a_run_cut_by_the_budget_keeps_what_it_has(tmp_path):
    # With no speed phase there is no estimate, so the first run starts; the alarm cuts it
    # (100,000 epochs never finish in 6 s, and setting up takes far less than 6 s).
    split, profile = _inputs(tmp_path, epochs=100_000)
    out = tmp_path / "out"
    _invoke("run", split, "--out", out, "--profile", profile, "--speed-epochs", 0,
            "--budget", gpu_reproduction.PACKING_S + 6, "--workdir", tmp_path / "work")
    results = json.loads((out / "results.json").read_text())
    assert results["speed"] == {"status": "skipped"}
    (run,) = results["runs"]
    finished = run.pop("epochs")
    assert run == {"variant": "baseline", "seed": 0, "status": "interrupted"}
    # The epochs it finished, read back from the train stage's resume state.
    assert finished and [row["epoch"] for row in finished] == list(range(1, len(finished) + 1))
    assert all(math.isfinite(row["loss"]) and row["train_s"] > 0 for row in finished)
    assert results["complete_seeds"] == [] and results["ensemble"]["status"] == "skipped"
    with tarfile.open(out / "runs.tar.gz") as tar:
        assert "params.yaml" in tar.getnames()

    doc = tmp_path / "reproduction.md"
    _invoke("report", out, "--doc", doc, "--log-copy", tmp_path / "log.txt")
    text = doc.read_text()
    epochs = f"{len(finished)} epoch{'s' if len(finished) != 1 else ''}"  # a loaded machine may finish just one
    assert f"| DiffuRec | 0 | interrupted (budget) after {epochs} |" in text
    assert "Not measured (skipped)." in text
    assert "Pipeline report" not in text and "Table 3 against the paper" not in text
    assert not (tmp_path / "log.txt").exists()


def _cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_reproduction.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})


def test_bad_inputs_are_refused_with_one_line_and_no_output(tmp_path):
    split, profile = _inputs(tmp_path, epochs=1)
    out = tmp_path / "out"
    done = _cli("run", split, "--out", out, "--profile", profile, "--variant", "v3")
    assert done.returncode == 2 and done.stderr.strip() == "error: unknown variant 'v3'; choose from ['baseline', 'v1', 'v2', 'control']"
    assert not out.exists()
    done = _cli("report", tmp_path / "nowhere", "--doc", tmp_path / "doc.md")
    assert done.returncode == 2
    assert "nowhere/results.json: not found; pass the folder the device run's files came back to" in done.stderr


def test_a_speed_phase_cut_by_the_budget_reports_the_epochs_it_finished(tmp_path, monkeypatch):
    # The budget's alarm, made deterministic: it rings right after the speed phase's second epoch.
    def ring_after_two_epochs(*args, on_epoch_end, **kwargs):
        def hook(state):
            on_epoch_end(state)
            if state.epoch == 2:
                raise gpu_reproduction.BudgetExceeded
        return fit(*args, on_epoch_end=hook, **kwargs)

    monkeypatch.setattr(gpu_reproduction, "fit", ring_after_two_epochs)
    split, profile = _inputs(tmp_path, epochs=1)
    out = tmp_path / "out"
    _invoke("run", split, "--out", out, "--profile", profile, "--speed-epochs", 5, "--workdir", tmp_path / "work")
    results = json.loads((out / "results.json").read_text())
    speed = results["speed"]
    assert speed["status"] == "interrupted" and len(speed["epoch_s"]) == 2
    assert results["runs"] == [] and (out / "runs.tar.gz").is_file()
    doc = tmp_path / "reproduction.md"
    _invoke("report", out, "--doc", doc, "--log-copy", tmp_path / "log.txt")
    text = doc.read_text()
    assert f"Not measured (interrupted). Training epochs that finished: {speed['epoch_s']} s." in text
    assert "None started: the budget ran out first." in text


# --- benchmarks/device_queue.py: the prioritized queue of issue 13 and its ledger ------------

import device_queue as fq  # noqa: E402

from diffurec.errors import DataError  # noqa: E402

CPU = ("train.device=cpu", "eval.device=cpu")


def _queue_invoke(*args: str | Path) -> str:
    result = CliRunner().invoke(fq.app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _ledger_files(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def _runs(ledger: dict) -> dict[str, dict]:
    return {run["spec"]["run"]: run for experiment in ledger["experiments"] for run in experiment["runs"]}


def test_the_queue_skips_settled_runs_and_runs_that_do_not_fit(tmp_path, monkeypatch):
    split, profile = _inputs(tmp_path, epochs=4)
    queue = (
        fq.Experiment("EA", "measured by an earlier call", (fq.Run("settled", profile=str(profile)),)),
        fq.Experiment("EB", "a curve with test", (fq.Run("curve", profile=str(profile), test_each_validation=True,
                                                         overrides=("train.eval_every=2",)),)),
        # Another seed: runs that compute the same thing under other names count as one.
        fq.Experiment("EC", "too long for what is left", (fq.Run("huge", profile=str(profile), seed=1),)),
        fq.Experiment("ED", "short", (fq.Run("small", profile=str(profile), overrides=("train.epochs=1",)),)),
    )
    monkeypatch.setattr(fq, "QUEUE", queue)
    # Fixed, so that the report's "the code as now" holds while others edit the code meanwhile.
    monkeypatch.setattr(fq, "code_sha256", lambda: "0" * 64)
    dataset = split.stem
    earlier = {
        "spec": fq.spec(queue[0], queue[0].runs[0], dataset, list(CPU)), "settled": True, "status": "done",
        "timing": {"setup_s": 0.1, "epoch_s": 0.1, "valid_s": 0.1, "test_s": 0.1},
    }
    huge = {
        "spec": fq.spec(queue[2], queue[2].runs[0], dataset, list(CPU)), "settled": False, "status": "cut",
        "timing": {"setup_s": 1.0, "epoch_s": 1000.0, "valid_s": 1.0, "test_s": 1.0},
    }
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    (ledger / "2026-01-01T000000Z-nvidia-h200.json").write_text(json.dumps(
        {"format": fq.FORMAT, "call": {}, "experiments": [{"id": "EA", "runs": [earlier]}, {"id": "EC", "runs": [huge]}]}))
    out = tmp_path / "out"
    _queue_invoke("run", "--out", out, "--splits", split.parent, "--ledger", ledger, "--budget", 600,
                  "--workdir", tmp_path / "work", *[a for s in CPU for a in ("-S", s)])

    (call,) = _ledger_files(out)
    assert call["call"]["card"] == "cpu" and call["call"]["torch"] == fq.torch.__version__
    sections = {e["id"]: e for e in call["experiments"]}
    assert sections["EA"]["runs"] == [] and sections["EA"]["not_started"] == [
        {"run": "settled", "reason": "settled in 2026-01-01T000000Z-nvidia-h200.json"}]
    # Its own cut record: 1 s setup, 4 epochs of 1,000 s, 4 validations and a test of 1 s each.
    (skipped,) = sections["EC"]["not_started"]
    assert skipped["run"] == "huge" and skipped["reason"].startswith("needs ~4006 s, ")
    runs = _runs(call)
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
    assert fq.unpack_ranks(curve["ranks"]).tolist() == stage_ranks.tolist()
    assert curve["ranks"]["users_sha256"] == fq._users_digest(stage_ranks.index)
    assert curve["seconds_to_best"] <= curve["seconds_total"]

    # The report: a table per experiment naming the ledger file, and the curve with its tests.
    ingested = tmp_path / "ingested"
    (out / "log.txt").write_text("raw log\n")
    _queue_invoke("ingest", out, "--ledger", ingested)
    name = call["call"]["ledger"]
    assert (ingested / f"{name}.log").read_text() == "raw log\n"
    text = _queue_invoke("report", "--ledger", ingested)
    assert "### EB: a curve with test" in text and "### EA" not in text
    gap = f"{curve['test']['NDCG@10'] / curve['best_valid']['NDCG@10'] - 1:+.1%}"
    assert (f"| curve (baseline, seed 0) | {profile} | `train.eval_every=2 train.device=cpu eval.device=cpu` | done | "
            f"4 of 4 | {curve['best_epoch']} | {curve['best_valid']['NDCG@10']:.4f} | {curve['test']['HR@10']:.4f} | "
            f"{curve['test']['NDCG@10']:.4f} | {gap} |") in text
    assert f"[{name}.json](ledger/{name}.json) |" in text
    assert (f"- [{name}.json](ledger/{name}.json): cpu, torch {fq.torch.__version__}, started {call['call']['started_utc']}, "
            f"budget 600.0 s, ran {call['call']['wall_s']} s; the code as now; raw log [{name}.log](ledger/{name}.log).") in text
    last = curve["validations"][-1]
    assert (f"| 4 | {last['valid']['HR@10']:.4f} | {last['valid']['NDCG@10']:.4f} | {last['test']['HR@10']:.4f} | "
            f"{last['test']['NDCG@10']:.4f} |") in text

    # A second call on the ingested ledger finds what the first one ran settled: nothing starts.
    monkeypatch.setattr(fq, "QUEUE", queue[1:2] + queue[3:])
    again = tmp_path / "again"
    _queue_invoke("run", "--out", again, "--splits", split.parent, "--ledger", ingested, "--budget", 600,
                  *[a for s in CPU for a in ("-S", s)])
    (second,) = _ledger_files(again)
    assert _runs(second) == {}
    assert [s["not_started"][0]["reason"] for s in second["experiments"]] == [f"settled in {name}.json"] * 2


def test_the_plan_lists_the_queue_as_the_ledger_leaves_it(tmp_path):
    # The real queue's grid on ML-1M, with seed 0 of DiffuRec settled (and timed) by an earlier call.
    (grid,) = [e for e in fq.QUEUE if e.id == "G-ml-1m"]
    settled = {"spec": fq.spec(grid, grid.runs[0], "ml-1m", []), "settled": True, "status": "done",
               "timing": {"setup_s": 10.0, "epoch_s": 5.0, "valid_s": 2.0, "test_s": 3.0}}
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    (ledger / "2026-01-01T000000Z-nvidia-h200.json").write_text(json.dumps(
        {"format": fq.FORMAT, "call": {}, "experiments": [{"id": grid.id, "runs": [settled]}]}))
    lines = _queue_invoke("plan", "--ledger", ledger, "--experiment", "G-ml-1m").splitlines()
    assert len(lines) == 20
    assert lines[0] == ("G-ml-1m/paper-baseline-seed0: ml-1m, baseline, seed 0; "
                        "settled in 2026-01-01T000000Z-nvidia-h200.json")
    # The others are predicted from that record, the latest of their recipe: 10 s setup, 41 epochs of
    # 5 s, 9 validations of 2 s, a test of 3 s.
    assert lines[3] == "G-ml-1m/paper-control-seed0: ml-1m, control, seed 0; to run, ~236 s"
    assert [line.split(":")[0] for line in lines[4:8]] == [
        f"G-ml-1m/paper-{v}-seed1" for v in ("baseline", "v1", "v2", "control")]
    with pytest.raises(fq.ConfigError, match="unknown experiment"):
        CliRunner().invoke(fq.app, ["plan", "--experiment", "G-nope"], catch_exceptions=False)


def test_a_ledger_file_is_never_overwritten(tmp_path, monkeypatch):
    split, profile = _inputs(tmp_path, epochs=1)
    monkeypatch.setattr(fq, "QUEUE", (fq.Experiment("EA", "q", (fq.Run("a", profile=str(profile)),)),))
    monkeypatch.setattr(fq, "ledger_name", lambda started, card: "2026-01-01T000000Z-cpu")
    out = tmp_path / "out"
    out.mkdir()
    (out / "2026-01-01T000000Z-cpu.json").write_text("an earlier call's ledger")
    with pytest.raises(DataError, match="2026-01-01T000000Z-cpu.json: exists; a ledger file is never overwritten"):
        CliRunner().invoke(fq.app, ["run", "--out", str(out), "--splits", str(split.parent), "--ledger", str(tmp_path / "none"),
                                    "-S", "train.device=cpu", "-S", "eval.device=cpu"], catch_exceptions=False)
    assert (out / "2026-01-01T000000Z-cpu.json").read_text() == "an earlier call's ledger"

    # Ingesting a call whose file (or log) the ledger already holds copies nothing.
    came_back, ledger = tmp_path / "came-back", tmp_path / "ledger"
    came_back.mkdir()
    ledger.mkdir()
    (came_back / "2026-01-01T000000Z-cpu.json").write_text("new")
    (came_back / "log.txt").write_text("new log")
    (ledger / "2026-01-01T000000Z-cpu.log").write_text("old log")
    with pytest.raises(DataError, match="2026-01-01T000000Z-cpu.log: exists"):
        CliRunner().invoke(fq.app, ["ingest", str(came_back), "--ledger", str(ledger)], catch_exceptions=False)
    assert sorted(p.name for p in ledger.iterdir()) == ["2026-01-01T000000Z-cpu.log"]
    assert (ledger / "2026-01-01T000000Z-cpu.log").read_text() == "old log"


def test_a_queued_run_cut_by_the_budget_is_recorded_cut_with_its_finished_epochs(tmp_path, monkeypatch):
    split, profile = _inputs(tmp_path, epochs=100_000)
    queue = (fq.Experiment("EA", "q", (fq.Run("endless", profile=str(profile), cut_settles=True),
                                       fq.Run("next", profile=str(profile))),),)
    monkeypatch.setattr(fq, "QUEUE", queue)
    out = tmp_path / "out"
    # 100,000 epochs never finish in 8 s; setting up takes far less.
    _queue_invoke("run", "--out", out, "--splits", split.parent, "--ledger", tmp_path / "none",
                  "--budget", gpu_reproduction.PACKING_S + 8, "-S", "train.device=cpu", "-S", "eval.device=cpu")
    (call,) = _ledger_files(out)
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
    return (fq.Experiment("B-amazon-beauty", "baselines", tuple(
        fq.Run(f"recbole-{name}", kind="recbole", profile=str(profile), variant=name) for name in ("SASRec-CE", "GRU4Rec"))),)


def test_a_queued_baseline_is_the_baselines_stage_run_recorded_with_its_validations(tmp_path, monkeypatch):
    split, profile = _inputs(tmp_path, epochs=1)
    profile = _baseline_profile(profile, epochs=3)
    monkeypatch.setattr(fq, "QUEUE", _baseline_queue(profile))
    out = tmp_path / "out"
    _queue_invoke("run", "--out", out, "--splits", split.parent, "--ledger", tmp_path / "none", "--experiment",
                  "B-amazon-beauty", "--workdir", tmp_path / "work")
    runs = _runs(_ledger_files(out)[0])
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
    assert fq.unpack_ranks(sasrec["ranks"]).tolist() == stage_ranks.tolist()
    assert sasrec["ranks"]["users_sha256"] == fq._users_digest(stage_ranks.index)


def test_a_baseline_short_of_time_stops_tested_and_settles_only_with_the_whole_call(tmp_path, monkeypatch):
    split, profile = _inputs(tmp_path, epochs=1)
    profile = _baseline_profile(profile, epochs=50)
    monkeypatch.setattr(fq, "QUEUE", _baseline_queue(profile))
    # Every validation finds too little time left for two more epochs.
    monkeypatch.setattr(fq, "RECBOLE_RESERVE_EPOCHS", 1e9)
    out = tmp_path / "out"
    _queue_invoke("run", "--out", out, "--splits", split.parent, "--ledger", tmp_path / "none")
    runs = _runs(_ledger_files(out)[0])
    first, second = runs["recbole-SASRec-CE"], runs["recbole-GRU4Rec"]
    for run in (first, second):
        assert run["status"] == "cut" and run["cut"] and run["epochs_finished"] == 1 and run["best_epoch"] == 1
        assert set(run["test"]) == set(METRICS) and run["stopped_early"] is False and run["ranks"]
    # The call's first run had all the call's time, so no later call would give it more.
    assert first["first_of_call"] and first["settled"]
    assert not second["first_of_call"] and not second["settled"]
    # The next call plans GRU4Rec again, from its own timing, over its whole epoch budget.
    ledger = tmp_path / "ledger"
    _queue_invoke("ingest", out, "--ledger", ledger)
    plan = _queue_invoke("plan", "--ledger", ledger, "--experiment", "B-amazon-beauty")
    assert "recbole-SASRec-CE: amazon-beauty, SASRec-CE, seed 0; settled in " in plan
    timing = second["timing"]
    expected = timing["setup_s"] + 50 * timing["epoch_s"] + timing["test_s"]
    assert f"recbole-GRU4Rec: amazon-beauty, GRU4Rec, seed 0; to run, ~{expected:.0f} s" in plan


def test_workloads_of_the_real_queue_follow_its_recipes():
    dataset = "amazon-beauty"
    ids = [e.id for e in fq.QUEUE]
    assert ids == ["E2", "E1", "E3", "E4", "G-amazon-beauty", "B-amazon-beauty", "G-amazon-toys-games",
                   "B-amazon-toys-games", "G-ml-1m", "B-ml-1m"]
    for experiment in fq.QUEUE:
        for run in experiment.runs:
            if run.kind == "ours":
                fq.Config.from_dict(fq.raw_config(run, dataset, []))  # every override names a real switch
    e2, e1, e3, e4 = fq.FIDELITY
    assert fq.workload(e2.runs[0], dataset, []) == fq.Workload(11, 1, 1, settling_epochs=11, planned_epochs=11)
    assert fq.workload(e2.runs[1], dataset, []) == fq.Workload(11, 1, 1, settling_epochs=11, planned_epochs=11)
    # 120 epochs validated every 10, tested at each validation and once more by the evaluate stage.
    assert fq.workload(e1.runs[0], dataset, []) == fq.Workload(120, 12, 13, settling_epochs=120, planned_epochs=120)
    # The official recipe validates after 21, 41, ...; the first validation improves, 5 more
    # without improvement end it at the earliest after epoch 121.
    official = fq.Config.from_dict(fq.raw_config(e3.runs[0], dataset, [])).train
    assert fq.validation_epochs(official)[:6] == [21, 41, 61, 81, 101, 121]
    assert fq.validation_epochs(official)[-2:] == [481, 500]
    assert fq.workload(e3.runs[0], dataset, []) == fq.Workload(121, 6, 1, settling_epochs=121, planned_epochs=500)
    # E3 asks whether the official recipe reaches the published numbers: the paper's three only.
    assert [r.variant for r in e3.runs] == ["baseline", "v1", "v2"]
    assert [r.name for r in e4.runs] == ["paper-recipe", "weight-decay-0", "batch-512", "shuffled-batches", "official-network"]
    # The grid: every model of a seed, the control included, before the next; Beauty's new seeds
    # first. E4/paper-recipe (DiffuRec, unchanged recipe) computes what the grid's Beauty seed-0
    # DiffuRec run computes, so either settles the other.
    beauty = fq.QUEUE[4]
    assert [(r.variant, r.seed) for r in beauty.runs[:5]] == [
        ("baseline", 2), ("v1", 2), ("v2", 2), ("control", 2), ("baseline", 3)]
    assert [r.seed for r in beauty.runs][-4:] == [1, 1, 1, 1] and len(beauty.runs) == 20
    grids, rebaselines = fq.QUEUE[4::2], fq.QUEUE[5::2]
    for experiment in grids:
        assert [r.variant for r in experiment.runs[:4]] == ["baseline", "v1", "v2", "control"]
        assert len(experiment.runs) == 20
    assert {r.dataset for e in fq.QUEUE[6:] for r in e.runs} == {"amazon-toys-games", "ml-1m"}
    # Each dataset's grid is followed by the paper profile's RecBole baselines on it, RecBole's
    # defaults: up to 300 epochs, validated every epoch.
    for grid, experiment in zip(grids, rebaselines):
        assert {r.dataset for r in experiment.runs} == {grid.runs[0].dataset}
        assert [(r.kind, r.variant, r.seed) for r in experiment.runs] == [
            ("recbole", name, 0) for name in ("GRU4Rec", "SASRec", "SASRec-CE", "BERT4Rec")]
        assert fq.workload(experiment.runs[0], dataset, []) == fq.Workload(300, 0, 1, settling_epochs=300,
                                                                            planned_epochs=300)
    paper_recipe = fq.spec(e4, e4.runs[0], dataset, [])
    (seed0,) = [r for r in beauty.runs if (r.variant, r.seed) == ("baseline", 0)]
    grid_spec = fq.spec(beauty, seed0, dataset, [])
    assert grid_spec != paper_recipe and fq.same_run(grid_spec, paper_recipe)
    assert fq.workload(seed0, dataset, []) == fq.Workload(41, 9, 1, settling_epochs=41, planned_epochs=41)


def test_planning_predicts_from_the_run_itself_else_from_its_recipe():
    run_spec = {"experiment": "E", "run": "r", "kind": "ours", "dataset": "d", "variant": "baseline", "seed": 0,
                "recipe": "p.yaml", "overrides": [], "args": []}
    work = fq.Workload(epochs=10, validations=2, tests=3, settling_epochs=10, planned_epochs=10)
    # Same recipe, other overrides (a record differing only in its names would be the run itself).
    sibling = {"spec": {**run_spec, "run": "other", "overrides": ["train.lr=0.002"]}, "timing": {"setup_s": 1.0, "epoch_s": 2.0, "valid_s": 3.0, "test_s": 4.0}}
    own_cut = {"spec": run_spec, "settled": False, "timing": {"setup_s": 5.0, "epoch_s": 1.0, "valid_s": None, "test_s": None}}
    elsewhere = {"spec": {**run_spec, "recipe": "q.yaml"}, "timing": {"setup_s": 0, "epoch_s": 0, "valid_s": 0, "test_s": 0}}
    older = {"spec": {**run_spec, "run": "older", "overrides": ["train.lr=0.003"]}, "timing": {"setup_s": 9.0, "epoch_s": 9.0, "valid_s": 9.0, "test_s": 9.0}}
    assert fq.predict_s(run_spec, work, [elsewhere]) is None
    # A CPU call's timing predicts nothing of a GPU's, nor a GPU's of a CPU's; an unrecorded card counts.
    on_cpu = {**sibling, "card": "cpu"}
    assert fq.predict_s(run_spec, work, [on_cpu], "NVIDIA H200") is None
    assert fq.predict_s(run_spec, work, [{**sibling, "card": "NVIDIA H100 80GB HBM3"}], "cpu") is None
    assert fq.predict_s(run_spec, work, [on_cpu], "cpu") == fq.predict_s(run_spec, work, [sibling], "NVIDIA H200")
    assert fq.predict_s(run_spec, work, [{**sibling, "card": "NVIDIA H100 80GB HBM3"}], "NVIDIA H200") is not None
    # The latest run of the same recipe, not a mix of its runs with other overrides.
    assert fq.predict_s(run_spec, work, [older, sibling, elsewhere]) == 1 + 10 * 2 + 2 * 3 + 3 * 4
    # Its own record's parts first; the parts it lacks from its recipe's other runs.
    assert fq.predict_s(run_spec, work, [sibling, own_cut]) == 5 + 10 * 1 + 2 * 3 + 3 * 4
    assert fq.decide(run_spec, work, [sibling], left_s=38.9, first=False).start is False
    assert fq.decide(run_spec, work, [sibling], left_s=39.0, first=False).start is True
    assert fq.decide(run_spec, work, [sibling], left_s=1.0, first=True).start is True
    assert fq.decide(run_spec, work, [], left_s=1.0, first=False).reason == "no timing to predict it from"
    settled = {"spec": run_spec, "settled": True, "ledger": "x.json", "timing": None}
    assert fq.decide(run_spec, work, [settled], left_s=1e9, first=True) == fq.Decision(False, "settled in x.json")
    renamed = {"spec": {**run_spec, "experiment": "G", "run": "grid-name"}, "settled": True, "ledger": "y.json", "timing": None}
    assert fq.decide(run_spec, work, [renamed], left_s=1e9, first=True) == fq.Decision(False, "settled in y.json")


# Printed as trainer.model_train prints (its print calls, verbatim formats), for 5 epochs with
# --eval_interval 2: validations after its epochs 2 (an improvement) and 4 (none), then the test.
OFFICIAL_OUTPUT = """Namespace(dataset='amazon_beauty', log_file='log/', random_seed=0, epochs=5, eval_interval=2)
Epoch: 0
[0/257] Loss: 9.4312
[52/257] Loss: 9.3100
loss in epoch 0: 9.2012
Epoch: 1
[0/257] Loss: 9.0001
loss in epoch 1: 8.9001
Epoch: 2
[0/257] Loss: 8.8001
loss in epoch 2: 8.7001
start predicting:  2026-11-30 12:00:00.123456
{'Best_HR@5': np.float64(3.9), 'Best_NDCG@5': np.float64(2.5), 'Best_HR@10': np.float64(6.0), 'Best_NDCG@10': np.float64(3.2), 'Best_HR@20': np.float64(8.8), 'Best_NDCG@20': np.float64(3.9)}
{'Best_epoch_HR@5': 2, 'Best_epoch_NDCG@5': 2, 'Best_epoch_HR@10': 2, 'Best_epoch_NDCG@10': 2, 'Best_epoch_HR@20': 2, 'Best_epoch_NDCG@20': 2}
Epoch: 3
loss in epoch 3: 8.6001
Epoch: 4
loss in epoch 4: 8.5001
start predicting:  2026-11-30 12:00:30.123456
Test------------------------------------------------------
{'HR@5': np.float64(2.95), 'NDCG@5': np.float64(1.9), 'HR@10': np.float64(4.5), 'NDCG@10': np.float64(2.4), 'HR@20': np.float64(6.6), 'NDCG@20': np.float64(2.93)}
Best Eval---------------------------------------------------------
{'Best_HR@5': np.float64(3.9), 'Best_NDCG@5': np.float64(2.5), 'Best_HR@10': np.float64(6.0), 'Best_NDCG@10': np.float64(3.2), 'Best_HR@20': np.float64(8.8), 'Best_NDCG@20': np.float64(3.9)}
{'Best_epoch_HR@5': 2, 'Best_epoch_NDCG@5': 2, 'Best_epoch_HR@10': 2, 'Best_epoch_NDCG@10': 2, 'Best_epoch_HR@20': 2, 'Best_epoch_NDCG@20': 2}
Namespace(dataset='amazon_beauty', log_file='log/', random_seed=0, epochs=5, eval_interval=2, item_num=12101)
"""


def test_the_official_printout_is_read_as_fractions_and_epochs_from_one():
    lines = [(float(i), text) for i, text in enumerate(OFFICIAL_OUTPUT.splitlines())]
    parsed = fq.parse_official(lines)
    assert [e["epoch"] for e in parsed["epochs"]] == [1, 2, 3, 4, 5]
    assert parsed["epochs"][0] == {"epoch": 1, "loss": 9.2012, "train_s": 3.0}
    assert parsed["epochs_finished"] == 5
    first, second = parsed["validations"]
    assert first["epoch"] == 3 and first["improved"] is True
    assert first["valid"] == {"HR@5": 0.039, "NDCG@5": 0.025, "HR@10": 0.06, "NDCG@10": 0.032, "HR@20": 0.088,
                              "NDCG@20": 0.039}
    assert second == {"epoch": 5, "improved": False}
    assert parsed["test"] == {"HR@5": 0.0295, "NDCG@5": 0.019, "HR@10": 0.045, "NDCG@10": 0.024, "HR@20": 0.066,
                              "NDCG@20": 0.0293}
    assert parsed["best_valid"] == first["valid"]
    assert parsed["best_epochs"] == dict.fromkeys(METRICS, 3)
    assert parsed["best_epoch"] == 3
    # Lines arrive one second apart: "Epoch: 0" is line 1; each validation lasts to the next line.
    assert parsed["timing"] == {"setup_s": 1.0, "epoch_s": 2.0, "valid_s": 1.0, "test_s": 1.0}
    # NumPy before 2 printed plain floats: the same reading.
    plain = [(at, fq.NUMPY_SCALAR.sub(r"\1", text)) for at, text in lines]
    assert plain[12][1].startswith("{'Best_HR@5': 3.9, ") and fq.parse_official(plain) == parsed
    # Cut during epoch 4 (0-based 3): three epochs and one validation, no test.
    cut = fq.parse_official(lines[:15])
    assert cut["epochs_finished"] == 3 and cut["test"] is None and len(cut["validations"]) == 1


def test_anchors_are_copied_writable_and_only_what_a_device_call_needs(tmp_path):
    source = tmp_path / "diffurec-official"
    for name in ("LICENSE", "src/main.py", "src/log/amazon_beauty/old.log", "src/__pycache__/main.pyc",
                 "datasets/data/amazon_beauty/dataset.pkl", "datasets/data/ml-1m/dataset.pkl"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(name)
    for path in sorted(source.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        target = gpu_reproduction.copy_anchors(source, tmp_path / "copy" / "diffurec-official")
        files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
        assert files == ["LICENSE", "datasets/data/amazon_beauty/dataset.pkl", "src/main.py"]
        (target / "src" / "log").mkdir()  # the official code writes its logs here
        (target / "src" / "main.py").write_text("writable")
        assert gpu_reproduction.copy_anchors(source, target) == target  # a second copy replaces the first
        assert (target / "src" / "main.py").read_text() == "src/main.py" and not (target / "src" / "log").exists()
        assert gpu_reproduction.folder_bytes(target) == len("LICENSE") + len("src/main.py") + len(
            "datasets/data/amazon_beauty/dataset.pkl")
    finally:
        for path in source.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        source.chmod(0o755)


@pytest.mark.skipif(not (gpu_reproduction.ANCHORS / "src" / "main.py").is_file(), reason="no official code here")
def test_the_carried_packages_are_what_python_imports_recbole_from(tmp_path):
    site = gpu_reproduction.copy_packages(gpu_reproduction.CARRIED_PACKAGES, tmp_path / "site")
    assert not list(site.rglob("__pycache__")) and (site / "recbole" / "properties" / "overall.yaml").is_file()
    assert gpu_reproduction.folder_bytes(site) < 16 * 2**20
    # As a device call runs it: the carried folder on PYTHONPATH, ahead of anything installed.
    probe = ("import recbole, colorlog, texttable, recbole.trainer; "
             "from pipeline.recbole_runner import recbole_default; "
             "print(recbole.__file__, colorlog.__file__, texttable.__file__, recbole_default('SASRec', 'epochs'))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True,
                            env={**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"})
    *files, epochs = result.stdout.split()
    assert all(Path(f).is_relative_to(site) for f in files) and epochs == "300"
    with pytest.raises(gpu_reproduction.DataError, match="no-such-package is not installed here"):
        gpu_reproduction.copy_packages(("no-such-package",), tmp_path / "other")


def test_the_official_code_runs_in_a_copy_and_its_printed_metrics_are_recorded(tmp_path, monkeypatch):
    import pickle

    anchors = gpu_reproduction.copy_anchors(gpu_reproduction.ANCHORS, tmp_path / "anchors" / "diffurec-official")
    # A small published-format pickle (its topk(100) needs at least 100 items): 40 users on a cycle.
    n_items, users = 120, range(40)
    walks = {u: [(3 * u + i) % n_items + 1 for i in range(8)] for u in users}
    pickle.dump({"train": {u: w[:-2] for u, w in walks.items()}, "val": {u: [w[-2]] for u, w in walks.items()},
                 "test": {u: [w[-1]] for u, w in walks.items()}, "umap": {str(u): u for u in users},
                 "smap": {str(i): i for i in range(1, n_items + 1)}},
                (anchors / "datasets" / "data" / "amazon_beauty" / "dataset.pkl").open("wb"))
    args = ("--dataset", "amazon_beauty", "--device", "cpu", "--random_seed", "0", "--epochs", "3",
            "--eval_interval", "1", "--hidden_size", "16", "--num_blocks", "1", "--max_len", "10", "--batch_size", "64")
    monkeypatch.setattr(fq, "QUEUE", (fq.Experiment("E2", "q", (fq.Run("official-code", kind="official", args=args),)),))
    split, _ = _inputs(tmp_path, epochs=1)
    out = tmp_path / "out"
    output = _queue_invoke("run", "--out", out, "--splits", split.parent, "--anchors", anchors, "--ledger", tmp_path / "none",
                           "--workdir", tmp_path / "work")
    (run,) = _runs(_ledger_files(out)[0]).values()
    assert run["status"] == "done" and run["settled"] and run["epochs_finished"] == 3
    assert [p["epoch"] for p in run["validations"]] == [2, 3]
    assert run["command"] == "main.py " + " ".join(args)
    printed = output.splitlines()[output.splitlines().index("[official] Test------------------------------------------------------") + 1]
    assert printed.startswith("[official] {'HR@5': ")
    percent = fq._dict_line(printed.removeprefix("[official] "))
    assert run["test"] == {key: round(float(value) / 100, 6) for key, value in percent.items()}
    assert set(run["best_valid"]) == set(METRICS) and run["best_epoch"] in (2, 3)
    assert run["timing"]["epoch_s"] > 0 and run["timing"]["test_s"] >= 0
    # It ran in the copy, which got the official code's log.
    assert list((tmp_path / "work" / "E2-official-code" / "diffurec-official" / "src" / "log").rglob("*.log"))

    # Cut by the budget: its finished epochs are kept, and its process is gone with the call.
    # Endless: many epochs, and a patience its early stopping cannot reach on this tiny data.
    endless = (*(a if a != "3" else "100000" for a in args), "--patience", "100000")
    monkeypatch.setattr(fq, "QUEUE", (fq.Experiment("E2", "q", (fq.Run("official-code", kind="official", args=endless),)),))
    cut_out = tmp_path / "cut"
    _queue_invoke("run", "--out", cut_out, "--splits", split.parent, "--anchors", anchors, "--ledger", tmp_path / "none",
                  "--workdir", tmp_path / "cut-work", "--budget", gpu_reproduction.PACKING_S + 10)
    (cut,) = _runs(_ledger_files(cut_out)[0]).values()
    assert cut["status"] == "cut" and cut["test"] is None and not cut["settled"]
    assert cut["epochs_finished"] >= 1 and [e["epoch"] for e in cut["epochs"]] == list(range(1, cut["epochs_finished"] + 1))
    src = (tmp_path / "cut-work" / "E2-official-code" / "diffurec-official" / "src").resolve()
    alive = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")) == src:
                alive.append(proc.name)
    assert alive == []
