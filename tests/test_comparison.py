"""Table 5: marks, improvements and the per-user test on hand-worked cases; the stage on a synthetic runs tree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from data_stage_support import assert_refused, run_cli
from diffurec.report.comparison import (
    BaselineRun,
    DatasetTable,
    Method,
    column_marks,
    improvement,
    improvement_over_control,
    render_table5,
    strongest,
    user_test,
)
from diffurec.metrics import ndcg
from diffurec.report.markdown import MIN_RELATIVE_BASE, relative_change

REPO = Path(__file__).resolve().parents[1]
METRICS = ("HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20")


def test_marks_best_and_second_as_printed_with_ties_and_gaps():
    assert column_marks([0.1, 0.3, None, 0.2]) == ["", "best", "", "second"]
    # 0.30004 prints as 0.3000: a tie for best, and the next value is second.
    assert column_marks([0.30004, 0.3, 0.25, 0.1]) == ["best", "best", "second", ""]
    assert column_marks([None, 0.5]) == ["", "best"]


def rows() -> list[Method]:
    return [
        Method("V1", "ours", {"HR@5": 0.12, "NDCG@5": 0.05}, False),
        Method("V2", "ours", {"HR@5": 0.11, "NDCG@5": 0.06}, False),
        Method("SASRec-CE", "re-run", {"HR@5": 0.10, "NDCG@5": 0.04}, True),
        Method("DuoRec", "reported", {"HR@5": 0.08}, True),
        Method("DiffuRecSys", "reported", {"HR@5": 0.20}, False),
    ]


def test_improvement_is_best_ours_over_best_baseline_and_skips_diffurec_rows():
    assert improvement(rows(), "HR@5") == pytest.approx(20.0)  # 0.12 vs 0.10; DiffuRecSys is not a baseline
    assert improvement(rows(), "NDCG@5") == pytest.approx(50.0)  # 0.06 vs 0.04
    assert improvement(rows()[:2] + rows()[3:], "HR@5", ("re-run",)) is None
    assert improvement(rows(), "HR@20") is None
    assert strongest(rows()[:2], "NDCG@5").name == "V2"


def test_a_relative_change_over_a_near_zero_base_is_not_printed():
    # NDCG@5: the best baseline 0.004 and the control 0.001, below MIN_RELATIVE_BASE (0.005); HR@5's 0.10 is not.
    methods = [
        Method("V1", "ours", {"HR@5": 0.12, "NDCG@5": 0.0113}, False),
        Method("SASRec-CE", "re-run", {"HR@5": 0.10, "NDCG@5": 0.004}, True),
        Method("Transformer, no diffusion", "ours (control)", {"HR@5": 0.10, "NDCG@5": 0.001}, False),
    ]
    assert MIN_RELATIVE_BASE == 0.005
    assert improvement(methods, "NDCG@5") is None and improvement_over_control(methods, "NDCG@5") is None
    assert improvement(methods, "HR@5") == pytest.approx(20.0)
    assert relative_change(0.0113, 0.005) == pytest.approx(126.0) and relative_change(0.0113, 0.0049) is None
    lines = render_table5([DatasetTable("ml-100k", tuple(methods), None)], ("HR@5", "NDCG@5"), [], []).splitlines()
    assert "| Improv. over best baseline |  | +20.0% | — |" in lines
    assert "| Improv. over the control |  | +20.0% | — |" in lines


def test_user_test_pairs_seed_averaged_ndcg_with_the_baseline():
    rng = np.random.default_rng(0)
    variant = rng.integers(1, 40, size=(3, 200))
    baseline = rng.integers(1, 40, size=200)
    test = user_test("V2", variant, "SASRec-CE", baseline)
    a, b = ndcg(variant, 10).mean(axis=0), ndcg(baseline, 10)
    expected = stats.ttest_rel(a, b)
    assert test.ttest.t == pytest.approx(expected.statistic)
    assert test.ttest.p == pytest.approx(expected.pvalue)
    assert test.variant_mean == pytest.approx(a.mean()) and test.baseline_mean == pytest.approx(b.mean())
    assert test.signed_rank.n == 200


def test_rendering_marks_cells_and_is_byte_stable():
    table = DatasetTable("ml-100k", tuple(rows()), None)
    run = BaselineRun("ml-100k", "SASRec-CE", {"model": "SASRec", "loss_type": "CE", "epochs": 3}, 12.345)
    text = render_table5([table], ("HR@5", "NDCG@5"), [run], ["a note"])
    assert text == render_table5([table], ("HR@5", "NDCG@5"), [run], ["a note"])
    lines = text.splitlines()
    assert "| V2 | ours | 0.1100 | **0.0600** |" in lines
    assert "| V1 | ours | <ins>0.1200</ins> | <ins>0.0500</ins> |" in lines
    assert "| DiffuRecSys | reported | **0.2000** | — |" in lines
    assert "| Improv. over best baseline |  | +20.0% | +50.0% |" in lines
    assert "| Improv. over best re-run baseline |  | +20.0% | +50.0% |" in lines
    # The settings no run has, and the epochs of a metrics.json from before they were recorded: left out.
    assert "| Dataset | Baseline | RecBole model | Loss | Max epochs | Training (s) |" in lines
    assert "| MovieLens-100K | SASRec-CE | SASRec | CE | 3 | 12.3 |" in lines
    assert "- a note" in lines


def write_run(folder: Path, ranks: np.ndarray, users: list[str], extra: dict) -> None:
    folder.mkdir(parents=True)
    pd.DataFrame({"user_id": users, "rank": ranks.astype(np.int64)}).to_parquet(folder / "ranks.parquet", index=False)
    metrics = {f"HR@{k}": float(np.mean(ranks <= k)) for k in (5, 10, 20)}
    metrics |= {f"NDCG@{k}": float(ndcg(ranks, k).mean()) for k in (5, 10, 20)}
    (folder / "metrics.json").write_text(json.dumps({**metrics, "users": len(users), **extra}))


# Both converged: early stopping ended them before their 9 epochs.
EPOCHS_OF = {
    "GRU4Rec": {"best_epoch": 3, "last_epoch": 6, "stopped_early": True},
    "SASRec-CE": {"best_epoch": 4, "last_epoch": 7, "stopped_early": True},
}


@pytest.fixture
def runs_tree(tmp_path):
    """ml-100k: variants baseline and v2 over seeds 0 and 1, re-run baselines GRU4Rec and SASRec-CE."""
    rng = np.random.default_rng(1)
    users = [str(u) for u in range(1, 101)]
    for variant, top in (("baseline", 60), ("v2", 4)):
        for seed in (0, 1):
            write_run(tmp_path / "runs" / "eval" / "ml-100k" / variant / f"seed{seed}", rng.integers(1, top, 100), users, {})
    for name, top in (("GRU4Rec", 80), ("SASRec-CE", 30)):
        settings = {"model": name.split("-")[0], "loss_type": "CE", "epochs": 9}
        extra = {"settings": settings, "train_seconds": 1.5, **EPOCHS_OF[name]}
        write_run(tmp_path / "runs" / "baselines" / "ml-100k" / name, rng.integers(1, top, 100), users, extra)
    params = {
        "datasets": ["ml-100k"],
        "variants": ["baseline", "v2"],
        "seeds": [0, 1],
        "baselines": ["GRU4Rec", "SASRec-CE"],
        "recbole": {"models": {"GRU4Rec": {"model": "GRU4Rec"}, "SASRec-CE": {"model": "SASRec", "loss_type": "CE"}}},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copy(REPO / "reference" / "paper_tables.yaml", tmp_path / "paper_tables.yaml")
    return tmp_path


def table5_args(root: Path) -> list:
    return [
        "table5", "--runs", root / "runs", "--paper-tables", root / "paper_tables.yaml",
        "--out", root / "table5.md", "--params", root / "params.yaml",
    ]


def test_stage_renders_measured_rows_and_the_user_test(runs_tree):
    code, stderr = run_cli(*table5_args(runs_tree))
    assert code == 0, stderr
    text = (runs_tree / "table5.md").read_text()
    ours = [line for line in text.splitlines() if line.startswith("| V2 ")]
    assert len(ours) == 1 and ours[0].count("**") == 12  # the best ranks win every column
    assert "| GRU4Rec | re-run |" in text and "| SASRec-CE | re-run |" in text
    ndcg10 = {
        name: json.loads(path.read_text())["NDCG@10"]
        for name, path in (
            ("v2", runs_tree / "runs/eval/ml-100k/v2/seed0/metrics.json"),
            ("v2-1", runs_tree / "runs/eval/ml-100k/v2/seed1/metrics.json"),
            ("GRU4Rec", runs_tree / "runs/baselines/ml-100k/GRU4Rec/metrics.json"),
            ("SASRec-CE", runs_tree / "runs/baselines/ml-100k/SASRec-CE/metrics.json"),
        )
    }
    best_baseline = max(ndcg10["GRU4Rec"], ndcg10["SASRec-CE"])
    gain = 100 * ((ndcg10["v2"] + ndcg10["v2-1"]) / 2 - best_baseline) / best_baseline
    improv = next(line for line in text.splitlines() if line.startswith("| Improv. over best baseline |"))
    assert improv.split(" | ")[6] == f"{gain:+.1f}%"
    # The paper reports nothing on ml-100k: no reported rows, and one improvement row (over the re-runs).
    assert "| reported |" not in text and "Improv. over best re-run baseline" not in text
    assert "The paper reports no other methods on MovieLens-100K" in text
    assert "V2 (+cross-attention +offset noise) (best of ours" in text
    assert "vs SASRec-CE (strongest converged re-run baseline" in text


def test_stage_refuses_a_missing_baseline_run(runs_tree):
    shutil.rmtree(runs_tree / "runs" / "baselines" / "ml-100k" / "GRU4Rec")
    code, stderr = run_cli(*table5_args(runs_tree))
    assert_refused(code, stderr, "GRU4Rec/metrics.json", "dvc repro baselines")
    assert not (runs_tree / "table5.md").exists()


def test_stage_names_the_baselines_stage_for_a_malformed_baseline_ranks_file(runs_tree):
    (runs_tree / "runs" / "baselines" / "ml-100k" / "SASRec-CE" / "ranks.parquet").write_text("not parquet")
    code, stderr = run_cli(*table5_args(runs_tree))
    assert_refused(code, stderr, "SASRec-CE/ranks.parquet", "rerun the baselines stage")
    assert not (runs_tree / "table5.md").exists()


def _edit_baseline(root: Path, name: str, **changes) -> None:
    path = root / "runs" / "baselines" / "ml-100k" / name / "metrics.json"
    raw = json.loads(path.read_text())
    raw.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del raw[key]
    path.write_text(json.dumps(raw))


def _metric(root: Path, relative: str, metric: str = "NDCG@10") -> float:
    return json.loads((root / "runs" / relative / "metrics.json").read_text())[metric]


def test_improvement_leaves_out_baselines_that_did_not_converge():
    methods = [*rows()[:2], Method("SASRec-CE", "re-run", {"HR@5": 0.10, "NDCG@5": 0.04}, True, False), *rows()[3:]]
    assert improvement(methods, "HR@5") == pytest.approx(50.0)  # 0.12 vs DuoRec's 0.08, SASRec-CE left out
    assert improvement(methods, "HR@5", ("re-run",)) is None
    text = render_table5([DatasetTable("ml-100k", tuple(methods), None)], ("HR@5", "NDCG@5"), [], [])
    lines = text.splitlines()
    assert "| Improv. over best baseline | converged only | +50.0% | — |" in lines
    assert "| Improv. over best re-run baseline | none converged | — | — |" in lines
    assert "Not converged, so left out of the Improv. rows and the per-user test: SASRec-CE (see Converged" in text
    assert "Per-user test: not computed, no re-run baseline converged." in lines


def test_the_control_is_its_own_row_and_has_its_own_improvement():
    # The control beats our variants on HR@5: it must not count as the best of ours.
    control = Method("Transformer, no diffusion", "ours (control)", {"HR@5": 0.15, "NDCG@5": 0.05}, False)
    methods = [*rows()[:3], control]
    assert improvement(methods, "HR@5") == pytest.approx(20.0)  # 0.12 vs 0.10, not 0.15 vs 0.10
    assert improvement_over_control(methods, "HR@5") == pytest.approx(-20.0)  # 0.12 vs 0.15
    assert improvement_over_control(methods, "NDCG@5") == pytest.approx(20.0)  # 0.06 vs 0.05
    assert improvement_over_control(rows(), "HR@5") is None
    text = render_table5([DatasetTable("ml-100k", tuple(methods), None)], ("HR@5", "NDCG@5"), [], [])
    lines = text.splitlines()
    assert "| Transformer, no diffusion | ours (control) | **0.1500** | <ins>0.0500</ins> |" in lines
    assert "| Improv. over best baseline |  | +20.0% | +50.0% |" in lines
    assert "| Improv. over the control |  | -20.0% | +20.0% |" in lines
    assert "Not converged" not in text
    assert "Improv. over the control:" in text
    assert "Improv. over the control" not in render_table5([DatasetTable("ml-100k", tuple(rows()), None)], ("HR@5",), [], [])


def test_settings_table_shows_best_and_last_epoch_and_convergence():
    runs = [
        BaselineRun("ml-100k", "GRU4Rec", {"model": "GRU4Rec", "epochs": 9}, 2.0, 3, 6, True),
        BaselineRun("ml-100k", "SASRec-CE", {"model": "SASRec", "epochs": 9}, 2.0, 9, 9, False),
    ]
    assert [run.converged for run in runs] == [True, False]
    assert not BaselineRun("ml-100k", "old", {}, 1.0).converged
    text = render_table5([], ("HR@5",), runs, [])
    # No run records a loss, an early stop or a size: those columns are left out.
    assert "| Dataset | Baseline | RecBole model | Max epochs | Best epoch | Last epoch | Converged | Training (s) |" in text
    assert "| MovieLens-100K | GRU4Rec | GRU4Rec | 9 | 3 | 6 | yes | 2.0 |" in text
    assert "| MovieLens-100K | SASRec-CE | SASRec | 9 | 9 | 9 | no | 2.0 |" in text


def test_stage_compares_with_the_strongest_converged_baseline_only(runs_tree):
    # SASRec-CE, the stronger, used all its epochs: GRU4Rec is the baseline to beat.
    _edit_baseline(runs_tree, "SASRec-CE", best_epoch=9, last_epoch=9, stopped_early=False)
    code, stderr = run_cli(*table5_args(runs_tree))
    assert code == 0, stderr
    text = (runs_tree / "table5.md").read_text()
    v2 = (_metric(runs_tree, "eval/ml-100k/v2/seed0") + _metric(runs_tree, "eval/ml-100k/v2/seed1")) / 2
    gru = _metric(runs_tree, "baselines/ml-100k/GRU4Rec")
    improv = next(line for line in text.splitlines() if line.startswith("| Improv. over best baseline |"))
    assert improv.split(" | ")[1] == "converged only" and improv.split(" | ")[6] == f"{100 * (v2 - gru) / gru:+.1f}%"
    assert "vs GRU4Rec (strongest converged re-run baseline" in text
    assert "left out of the Improv. rows and the per-user test: SASRec-CE" in text
    assert "| MovieLens-100K | SASRec-CE | SASRec | CE | 9 |" in text and "| 9 | 9 | no | 1.5 |" in text
    assert "| 3 | 6 | yes | 1.5 |" in text


def test_stage_treats_baselines_without_recorded_epochs_as_not_converged(runs_tree):
    for name in ("GRU4Rec", "SASRec-CE"):
        _edit_baseline(runs_tree, name, best_epoch=None, last_epoch=None, stopped_early=None)
    code, stderr = run_cli(*table5_args(runs_tree))
    assert code == 0, stderr
    lines = (runs_tree / "table5.md").read_text().splitlines()
    assert "| Improv. over best baseline | none converged | — | — | — | — | — | — |" in lines
    assert "Per-user test: not computed, no re-run baseline converged." in lines
    # Nor any epoch recorded: only the settings and the seconds are left.
    assert "| MovieLens-100K | GRU4Rec | GRU4Rec | CE | 9 | 1.5 |" in lines


def test_stage_refuses_a_malformed_convergence_record(runs_tree):
    _edit_baseline(runs_tree, "GRU4Rec", stopped_early="yes")
    code, stderr = run_cli(*table5_args(runs_tree))
    assert_refused(code, stderr, "GRU4Rec/metrics.json", "'stopped_early' must be a bool", "dvc repro baselines")


def test_stage_lists_the_control_beside_our_variants(runs_tree):
    rng = np.random.default_rng(5)
    users = [str(u) for u in range(1, 101)]
    for seed in (0, 1):
        write_run(runs_tree / "runs" / "eval" / "ml-100k" / "control" / f"seed{seed}", rng.integers(1, 8, 100), users, {})
    params = yaml.safe_load((runs_tree / "params.yaml").read_text())
    params["variants"] = ["baseline", "v2", "control"]
    (runs_tree / "params.yaml").write_text(yaml.safe_dump(params))
    code, stderr = run_cli(*table5_args(runs_tree))
    assert code == 0, stderr
    text = (runs_tree / "table5.md").read_text()
    assert "| Transformer, no diffusion | ours (control) |" in text
    v2 = (_metric(runs_tree, "eval/ml-100k/v2/seed0") + _metric(runs_tree, "eval/ml-100k/v2/seed1")) / 2
    control = (_metric(runs_tree, "eval/ml-100k/control/seed0") + _metric(runs_tree, "eval/ml-100k/control/seed1")) / 2
    improv = next(line for line in text.splitlines() if line.startswith("| Improv. over the control |"))
    assert improv.split(" | ")[6] == f"{100 * (v2 - control) / control:+.1f}%"
    # The per-user test is still our best diffusion model's.
    assert "V2 (+cross-attention +offset noise) (best of ours" in text
