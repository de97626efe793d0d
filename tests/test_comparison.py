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
    render_table5,
    strongest,
    user_test,
)
from diffurec.metrics import ndcg

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
    assert "| Improv. over best baseline |  | +20.00% | +50.00% |" in lines
    assert "| Improv. over best re-run baseline |  | +20.00% | +50.00% |" in lines
    assert "| MovieLens-100K | SASRec-CE | SASRec | CE | 3 | — | — | — | — | — | — | 12.3 |" in lines
    assert "- a note" in lines


def write_run(folder: Path, ranks: np.ndarray, users: list[str], extra: dict) -> None:
    folder.mkdir(parents=True)
    pd.DataFrame({"user_id": users, "rank": ranks.astype(np.int64)}).to_parquet(folder / "ranks.parquet", index=False)
    metrics = {f"HR@{k}": float(np.mean(ranks <= k)) for k in (5, 10, 20)}
    metrics |= {f"NDCG@{k}": float(ndcg(ranks, k).mean()) for k in (5, 10, 20)}
    (folder / "metrics.json").write_text(json.dumps({**metrics, "users": len(users), **extra}))


@pytest.fixture
def runs_tree(tmp_path):
    """ml-100k: variants baseline and v2 over seeds 0 and 1, re-run baselines GRU4Rec and SASRec-CE."""
    rng = np.random.default_rng(1)
    users = [str(u) for u in range(1, 101)]
    for variant, top in (("baseline", 60), ("v2", 4)):
        for seed in (0, 1):
            write_run(tmp_path / "runs" / "eval" / "ml-100k" / variant / f"seed{seed}", rng.integers(1, top, 100), users, {})
    for name, top in (("GRU4Rec", 80), ("SASRec-CE", 30)):
        settings = {"model": name.split("-")[0], "loss_type": "CE", "epochs": 2}
        extra = {"settings": settings, "train_seconds": 1.5}
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
    assert improv.split(" | ")[6] == f"{gain:+.2f}%"
    # The paper reports nothing on ml-100k: no reported rows, and one improvement row (over the re-runs).
    assert "| reported |" not in text and "Improv. over best re-run baseline" not in text
    assert "The paper reports no other methods on MovieLens-100K" in text
    assert "V2 (+cross-attention +offset noise) (best of ours" in text
    assert "vs SASRec-CE (strongest re-run baseline" in text


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
