"""Stages `case-study` and `tsne` on the real ml-100k split with synthetic ranks and a tiny
untrained model: what the report says, what the figures and the t-SNE table hold, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from data_stage_support import ML100K_INTER, assert_refused, run_cli
from diffurec.report.case_study import dataset_groups
from diffurec.config import ModelConfig
from diffurec.report.groups import group_metrics
from diffurec.metrics import summarize
from diffurec.model import DiffuRec
from diffurec.preprocess import preprocess
from diffurec.sequences import encode
from diffurec.split import leave_one_out
from pipeline.files.recbole_inter import read_inter
from pipeline.files.checkpoint import save_model

KS = (5, 10, 20)
SEEDS = (0, 1)
VARIANTS = ("baseline", "v1")
OUTPUTS = (
    "reports/case_study.md",
    "reports/figures/case_study_groups.png",
    "reports/figures/case_study_ensemble.png",
)


@pytest.fixture(scope="module")
def split() -> pd.DataFrame:
    return leave_one_out(preprocess(read_inter(ML100K_INTER), 5, 5))


def _ranks(users: list[str], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 60, len(users)).astype(np.int64)


def _write_ranks(path: Path, users: list[str], ranks: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Stored in reverse user order: the stage must align ranks to users, not to rows.
    pd.DataFrame({"user_id": users[::-1], "rank": ranks[::-1]}).to_parquet(path, index=False)


@pytest.fixture
def project(tmp_path: Path, split: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> Path:
    params = {
        "datasets": ["ml-100k"],
        "variants": list(VARIANTS),
        "seeds": list(SEEDS),
        "baselines": ["SASRec", "GRU4Rec"],
        "eval": {"ks": list(KS), "device": "cpu"},
        "analysis": {"tsne_users": 60, "tsne_perplexity": 10},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "data/split").mkdir(parents=True)
    split.to_parquet(tmp_path / "data/split/ml-100k.parquet", index=False)
    users = split["user_id"].astype(str).tolist()
    for v, variant in enumerate(VARIANTS):
        for seed in SEEDS:
            path = tmp_path / f"runs/eval/ml-100k/{variant}/seed{seed}/ranks.parquet"
            _write_ranks(path, users, _ranks(users, 10 * v + seed))
        _write_ranks(tmp_path / f"runs/ensemble/ml-100k/{variant}/ranks.parquet", users, _ranks(users, 100 + v))
    _write_ranks(tmp_path / "runs/baselines/ml-100k/SASRec/ranks.parquet", users, _ranks(users, 200))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _table_row(report: str, section: str, group: str, model: str, inference: str) -> list[str]:
    body = report.split(f"### {section}")[1].split("###")[0]
    prefix = f"| {group} | {model} | {inference} |"
    (line,) = [line for line in body.splitlines() if line.startswith(prefix)]
    return line.strip("| ").split(" | ")


def test_case_study_reports_per_group_metrics_of_variants_ensembles_and_present_baselines(project, split):
    assert run_cli("case-study")[0] == 0
    report = (project / "reports/case_study.md").read_text()
    users = split["user_id"].astype(str).tolist()
    groups = dataset_groups("ml-100k", encode(split), 0.2, (20, 40, 60, 80))

    seed_ranks = np.stack([_ranks(users, 10 + seed) for seed in SEEDS])
    expected = group_metrics(seed_ranks, groups.popularity, KS).loc["long-tail"]
    row = _table_row(report, "Head vs long-tail items", "long-tail", "V1 (+cross-attention)", "seed mean")
    assert row[3] == str(int(expected["users"]))
    assert row[4:] == [f"{expected[m]:.4f}" for m in ("HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20")]

    g1 = groups.length.labels[0]
    sasrec = group_metrics(_ranks(users, 200), groups.length, KS).loc[g1]
    row = _table_row(report, "Sequence-length groups", g1, "SASRec", "single run")
    assert row[4] == f"{sasrec['HR@5']:.4f}"
    assert "GRU4Rec; run `dvc repro`" in report  # configured, never run: named, not silently dropped

    ensemble = summarize(_ranks(users, 100), KS)["NDCG@10"]
    seed_mean = np.mean([summarize(_ranks(users, seed), KS)["NDCG@10"] for seed in SEEDS])
    gains = report.split("### Ensemble")[1]
    (baseline_gain,) = [line for line in gains.splitlines() if line.startswith("| DiffuRec (baseline) |")]
    assert baseline_gain.split(" | ")[1] == f"{ensemble - seed_mean:+.4f}"
    # The sentence on the paper's claim counts the long-tail, shortest and longest groups' gains.
    header, _, *rows = [line.strip("| ").split(" | ") for line in gains.splitlines() if line.startswith("|")]
    claimed = [header.index(column) for column in ("long-tail", groups.length.labels[0], groups.length.labels[-1])]
    higher = sum(float(row[i]) > 0 for row in rows for i in claimed)
    assert f"higher in {higher} of {len(rows) * 3} cells." in gains
    for boundary in groups.boundaries:
        assert f"{boundary:.1f}" in report
    for link in ("figures/case_study_groups.png", "figures/tsne_ml-100k_v1.png"):
        assert f"]({link})" in report


def test_case_study_outputs_are_byte_for_byte_repeatable(project):
    run_cli("case-study")
    first = {name: (project / name).read_bytes() for name in OUTPUTS}
    assert all(content.startswith(b"\x89PNG") for name, content in first.items() if name.endswith(".png"))
    run_cli("case-study")
    assert {name: (project / name).read_bytes() for name in OUTPUTS} == first


def test_case_study_refuses_ranks_of_other_users_and_missing_ensembles(project, split):
    path = project / "runs/eval/ml-100k/v1/seed1/ranks.parquet"
    users = split["user_id"].astype(str).tolist()[:-1]
    _write_ranks(path, users, _ranks(users, 0))
    assert_refused(*run_cli("case-study"), str(Path("runs/eval/ml-100k/v1/seed1/ranks.parquet")), "other users")
    (project / "runs/ensemble/ml-100k/baseline/ranks.parquet").unlink()
    assert_refused(*run_cli("case-study"), "runs/ensemble/ml-100k/baseline/ranks.parquet", "not found")
    assert not (project / "reports/case_study.md").exists()


def test_tsne_writes_a_scatter_table_of_the_sampled_users_and_its_figure(project, split):
    data = encode(split)
    torch.manual_seed(0)
    model = DiffuRec(data.n_items, ModelConfig(hidden=16, blocks=1, heads=2, max_len=10), "v1")
    save_model(project / "runs/train/ml-100k/v1/seed0/model.pt", model, data.items)
    assert run_cli("tsne", "ml-100k", "v1")[0] == 0
    table = pd.read_csv(project / "runs/analysis/ml-100k/v1/tsne.csv", dtype={"user_id": str})
    assert table.columns.tolist() == ["user_id", "x", "y", "label"]
    assert len(table) == 60 and table["user_id"].is_unique
    groups = dataset_groups("ml-100k", data, 0.2, (20, 40, 60, 80))
    position = {user: i for i, user in enumerate(data.users)}
    expected = [groups.popularity.labels[groups.popularity.groups[position[u]]] for u in table["user_id"]]
    assert table["label"].tolist() == expected
    assert np.isfinite(table[["x", "y"]].to_numpy()).all() and table["x"].std() > 0
    figure = (project / "reports/figures/tsne_ml-100k_v1.png").read_bytes()
    assert figure.startswith(b"\x89PNG") and len(figure) < 200_000

    first = (project / "runs/analysis/ml-100k/v1/tsne.csv").read_bytes()
    run_cli("tsne", "ml-100k", "v1")
    assert (project / "runs/analysis/ml-100k/v1/tsne.csv").read_bytes() == first
    assert (project / "reports/figures/tsne_ml-100k_v1.png").read_bytes() == figure


def test_tsne_refuses_a_missing_model_and_a_perplexity_above_the_users(project):
    assert_refused(*run_cli("tsne", "ml-100k", "v1"), "runs/train/ml-100k/v1/seed0/model.pt", "no trained model")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["analysis"] = {"tsne_users": 5000, "tsne_perplexity": 1000}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert_refused(*run_cli("tsne", "ml-100k", "v1"), "analysis.tsne_perplexity", "lower it")
