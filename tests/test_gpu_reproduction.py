"""benchmarks/gpu_reproduction.py, run on CPU: the budgeted run, what it packs, and the document
rendered from it; plus the paper comparison in diffurec.reproduction against hand-computed values."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from diffurec.reproduction import compare, reading
from diffurec.train import fit
from tests.synthetic import cycle_split

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_reproduction  # noqa: E402

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
        (v, s, "done") for s in (0, 1) for v in ("baseline", "v1", "v2")
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
    # The profile's "auto" is float32 on this CPU; on the device it reads bf16 autocast.
    assert results["precision"] == {"train": "auto", "eval": "auto", "device": "cpu"}
    assert ("- Precision on cpu: training in float32 (train.precision `auto`), evaluation in float32 "
            "(eval.precision `auto`); the paper and the official code compute in float32.") in text
    epoch = results["speed"]["epoch_s"][-1]
    assert (f"| Training epoch ({results['split']['samples']:,} samples) | {epoch:.2f} s "
            f"({results['split']['samples'] / epoch:,.0f} samples/s) | "
            f"{18.4 / epoch:.1f}x faster than the official code's 18.4 s on an H100 |") in text
    assert "stopped" not in results
    assert results["speed"]["precision"] == {"train": "auto", "eval": "auto", "device": "cpu"}
    assert "start-up is included). Precision on cpu: training in float32 (train.precision `auto`)" in text
    done = results["runs"]
    valid = sum(r["train"]["best_valid"]["NDCG@10"] for r in done) / 6
    test = sum(r["test"]["NDCG@10"] for r in done) / 6
    assert (f"Over these 6 runs the best epoch's validation NDCG@10 averages {valid:.4f} and the test NDCG@10 "
            f"{test:.4f} ({test / valid - 1:+.1%}).") in text
    # x_t enters as lambda * (x_t + d), lambda ~ N(0.001, 0.001): far weaker than the history.
    assert all(r["sensitivity"]["t"] == 31 and 0 < 100 * r["sensitivity"]["x_t"] < r["sensitivity"]["history"]
               for r in done)
    baseline = [r["sensitivity"] for r in done if r["variant"] == "baseline"]
    assert (f"(`diffurec.sensitivity`, 120 test users, t = 31): its mean relative change when x_t is redrawn is "
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
    # The runs come from the other call: one seed of every variant.
    assert "| DiffuRec | 0 | done | 1 of 1 |" in text and "| Modified V2 | 0 | done | 1 of 1 |" in text


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
    assert f"| DiffuRec | 0 | interrupted (budget) after {len(finished)} epochs |" in text
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
    assert done.returncode == 2 and done.stderr.strip() == "error: unknown variant 'v3'; choose from ['baseline', 'v1', 'v2']"
    assert not out.exists()
    done = _cli("report", tmp_path / "nowhere")
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
