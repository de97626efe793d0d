"""The cost report: which stage records belong to the run, the seconds by kind of stage, the
machine, and the records a stage writes when DVC starts it."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import yaml

from diffurec.report.cost import StageCost, in_run, plot_table, render_cost
from pipeline.files.cost_records import read_records, record_file, record_stage
from tests.data_stage_support import run_cli

MACHINE = {"processor": "Test CPU", "vector level in force (ATen)": "AVX2"}
VALUES = {"ml-100k", "amazon-toys-games", "baseline", "v1", "control", "0", "1", "GRU4Rec", "SASRec-CE"}


def cost(stage: str, seconds: float, **changes) -> StageCost:
    record = StageCost(stage, ["x"], seconds, seconds * 1.5, 300.0, "Test CPU", "AVX2", 2, True)
    return replace(record, **changes)


def test_a_stage_is_in_the_run_when_every_matrix_value_is():
    assert in_run("ttest", VALUES)
    assert in_run("train-v1@ml-100k-0", VALUES)
    assert in_run("baselines@amazon-toys-games-SASRec-CE", VALUES)
    assert not in_run("train-v1@ml-100k-2", VALUES)  # a seed params.yaml no longer lists
    assert not in_run("baselines@ml-100k-SASRec", VALUES)  # "SASRec-CE" is no "SASRec"
    assert not in_run("evaluate@ml-1m-v1-0", VALUES)


def test_the_report_sums_seconds_by_kind_largest_first():
    costs = [cost("train-v1@ml-100k-0", 100.0), cost("train-v1@ml-100k-1", 50.0), cost("ttest", 50.0)]
    text = render_cost(MACHINE, costs)
    assert "| Test CPU |" in text
    kinds = text.split("## Seconds by kind of stage")[1].split("## Every stage")[0]
    assert kinds.index("| train-v1 | 2 | 150.0 | 75.0% |") < kinds.index("| ttest | 1 | 50.0 | 25.0% |")
    assert "| all stages | 3 | 200.0 | 100.0% |" in kinds
    assert "| train-v1@ml-100k-0 | 100.0 | 150.0 | 300 | AVX2 | 2 |" in text
    assert "Notes:" not in text


def test_stages_measured_elsewhere_or_unpinned_are_named():
    costs = [cost("ttest", 1.0, processor="Other CPU"), cost("tables", 1.0, pins=False, vector_level=None, threads=None)]
    text = render_cost(MACHINE, costs)
    assert "Measured on another processor than the one above: ttest." in text
    assert "Run without the CPU pins, so their floats are this processor's own: tables." in text
    assert "| tables | 1.0 | 1.5 | 300 | — | — |" in text


def test_the_plot_table_has_a_row_per_stage():
    assert plot_table([cost("ttest", 1.25), cost("tables", 2.0)]) == "stage\tseconds\nttest\t1.2\ntables\t2.0\n"


def test_a_stage_records_its_cost_only_when_dvc_started_it(tmp_path, monkeypatch):
    monkeypatch.delenv("DVC_STAGE", raising=False)
    assert record_stage(0.0, tmp_path) is None
    assert not (tmp_path / "cost").exists()
    monkeypatch.setenv("DVC_STAGE", "ttest")
    record = record_stage(0.0, tmp_path)
    assert read_records(tmp_path) == [record]
    assert record.stage == "ttest" and record.seconds > 0 and record.peak_memory_mib > 0


def test_the_stage_reports_the_runs_records_and_leaves_out_stale_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"variants": ["baseline", "v1"], "seeds": [0],
                                                         "baselines": ["GRU4Rec"]}))
    # Left out: a seed and a variant (v2) that params no longer lists, and the cost stage's own
    # record, which is always a run behind the page it writes.
    for record in (cost("train-v1@ml-100k-0", 30.0), cost("train-v1@ml-100k-1", 40.0), cost("tables", 5.0),
                   cost("evaluate@ml-100k-v2-0", 7.0), cost("cost", 2.0)):
        path = record_file(record.stage, Path("runs"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(record)))
    code, stderr = run_cli("cost")
    assert code == 0, stderr
    text = (tmp_path / "reports" / "cost.md").read_text()
    assert "train-v1@ml-100k-0" in text and "train-v1@ml-100k-1" not in text
    assert "evaluate@ml-100k-v2-0" not in text and "| cost |" not in text
    assert "| all stages | 2 | 35.0 | 100.0% |" in text
    assert (tmp_path / "reports" / "cost.tsv").read_text().splitlines()[1:] == ["tables\t5.0", "train-v1@ml-100k-0\t30.0"]
