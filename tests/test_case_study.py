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
from diffurec.report.case_study import (
    DatasetCase,
    DatasetGroups,
    VariantRanks,
    bar_panels,
    dataset_groups,
    groups_figure_title,
)
from diffurec.config import ModelConfig
from diffurec.report.groups import Grouping, group_metrics
from diffurec.report.tables import metric_names
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
    "reports/case_study.tsv",
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


def _table(report: str, section: str) -> list[dict[str, str]]:
    """The rows of the table under `### {section}`, each as header -> cell."""
    body = report.split(f"### {section}")[1].split("###")[0]
    # Cells between the outer "| " and " |", blank ones kept.
    header, _, *rows = [line[2:-2].split(" | ") for line in body.splitlines() if line.startswith("|")]
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_case_study_tables_have_a_column_per_model_holding_the_old_rows_values(project, split):
    assert run_cli("case-study")[0] == 0
    report = (project / "reports/case_study.md").read_text()
    users = split["user_id"].astype(str).tolist()
    groups = dataset_groups("ml-100k", encode(split), 0.2, (20, 40, 60, 80))
    # What the old layout printed on its row for (group, model, inference): group_metrics of those ranks.
    ranks = {}
    for v, name in enumerate(("DiffuRec (baseline)", "V1 (+cross-attention)")):
        ranks[name, "seed mean"] = np.stack([_ranks(users, 10 * v + seed) for seed in SEEDS])
        ranks[name, "ensemble"] = _ranks(users, 100 + v)
    ranks["SASRec", "seed mean"] = _ranks(users, 200)  # a baseline's one run, in the seed-mean rows
    tsv = pd.read_csv(project / "reports/case_study.tsv", sep="\t")
    for section, grouping in (("Head vs long-tail items: NDCG@10", groups.popularity),
                              ("Sequence-length groups: NDCG@10", groups.length)):
        rows = _table(report, section)
        assert list(rows[0]) == ["Group", "Users", "Inference", "DiffuRec (baseline)", "V1 (+cross-attention)", "SASRec"]
        assert [(r["Group"], r["Inference"]) for r in rows] == [
            (group, inference) for group in grouping.labels for inference in ("seed mean", "ensemble")
        ]
        for (model, inference), model_ranks in ranks.items():
            expected = group_metrics(model_ranks, grouping, KS)
            for group in grouping.labels:
                (row,) = [r for r in rows if r["Group"] == group and r["Inference"] == inference]
                assert row[model] == f"{expected.loc[group, 'NDCG@10']:.4f}", (section, group, model, inference)
                # The old rows' users, once per group: on its seed-mean row.
                assert row["Users"] == (str(expected.loc[group, "users"]) if inference == "seed mean" else "")
                # Every other metric of the old row: in the TSV.
                old_row = tsv[(tsv["group"] == group) & (tsv["model"] == model)
                              & (tsv["inference"] == ("single run" if model == "SASRec" else inference))]
                assert old_row[list(metric_names(KS))].to_numpy()[0] == pytest.approx(
                    expected.loc[group, list(metric_names(KS))].to_numpy(dtype=float), abs=1e-6
                )
        # A baseline has no ensemble.
        assert all(r["SASRec"] == "" for r in rows if r["Inference"] == "ensemble")
    # One line per group and (model, inference): each variant's two and SASRec's one.
    assert len(tsv) == len(ranks) * (len(groups.popularity.labels) + len(groups.length.labels))
    assert "GRU4Rec; run `dvc repro`" in report  # configured, never run: named, not silently dropped

    ensemble = summarize(_ranks(users, 100), KS)["NDCG@10"]
    seed_mean = np.mean([summarize(_ranks(users, seed), KS)["NDCG@10"] for seed in SEEDS])
    gains = _table(report, "Ensemble (Algorithm 3) vs a single seed: NDCG@10, in pp")
    assert [r["Group"] for r in gains] == ["all users", *groups.popularity.labels, *groups.length.labels]
    assert gains[0]["Users"] == str(len(users))
    assert gains[0]["DiffuRec (baseline)"] == f"{100 * (ensemble - seed_mean):+.3f}"
    # The sentence on the paper's claim counts the long-tail, shortest and longest groups' gains.
    claimed = [r for r in gains if r["Group"] in ("long-tail", groups.length.labels[0], groups.length.labels[-1])]
    higher = sum(float(r[model]) > 0 for r in claimed for model in ("DiffuRec (baseline)", "V1 (+cross-attention)"))
    assert f"higher in {higher} of 6 cells." in report
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


def _six_users() -> DatasetGroups:
    """Six users: the first four with a head test item; by length G1 (users 0-2), an empty G2, G3 (users 3-5)."""
    popularity = Grouping("target popularity", ("head", "long-tail"), np.array([0, 0, 0, 0, 1, 1]))
    length = Grouping("sequence length", ("G1", "G2", "G3"), np.array([0, 0, 0, 2, 2, 2]))
    head = np.zeros(11, dtype=bool)
    return DatasetGroups("ml-100k", 10, 0.2, head, 0.5, (50.0,), np.array([5.0]), popularity, length)


def test_group_bars_are_seed_means_and_one_runs_with_bootstrap_intervals_over_the_groups_users():
    # NDCG@10 of rank 1 is 1, of rank 3 is 0.5, of rank 20 is 0.
    seeds = np.array([[1, 3, 20, 1, 1, 20], [1, 3, 20, 3, 1, 20]])
    sasrec = np.array([3, 3, 3, 1, 20, 1])
    case = DatasetCase(_six_users(), {"v1": VariantRanks(seeds, seeds[0])}, {"SASRec": sasrec}, ())
    panels = bar_panels(case, "NDCG@10")
    assert list(panels) == ["target popularity", "sequence length"]
    head = panels["target popularity"]
    assert list(head.values.columns) == ["V1 (+cross-attention)", "SASRec"]
    for name, grouping in zip(panels, case.groups.groupings):
        expected = group_metrics(seeds, grouping, (10,))["NDCG@10"]
        np.testing.assert_allclose(panels[name].values["V1 (+cross-attention)"], expected, atol=1e-12)
    # Users 0-3 average, over the seeds, 1, 0.5, 0 and 0.75: a mean of 0.5625, inside its interval.
    assert head.values.loc["head", "V1 (+cross-attention)"] == pytest.approx(0.5625)
    low, high = head.low.loc["head", "V1 (+cross-attention)"], head.high.loc["head", "V1 (+cross-attention)"]
    assert 0.0 <= low < 0.5625 < high <= 1.0
    # SASRec's one run: every head user at rank 3 (0.5) or 1, a long-tail split 0 and 1.
    assert head.values.loc["head", "SASRec"] == pytest.approx((0.5 * 3 + 1.0) / 4)
    assert head.values.loc["long-tail", "SASRec"] == pytest.approx(0.5)
    # A group whose users all score the same has no spread to resample; an empty group has no bar.
    lengths = panels["sequence length"]
    assert lengths.low.loc["G1", "SASRec"] == lengths.values.loc["G1", "SASRec"] == lengths.high.loc["G1", "SASRec"]
    assert lengths.values.loc["G2"].isna().all() and lengths.low.loc["G2"].isna().all()
    # The same ranks give the same intervals.
    again = bar_panels(case, "NDCG@10")["target popularity"]
    assert again.low.equals(head.low) and again.high.equals(head.high)


def test_the_group_figure_title_says_mean_over_seeds_of_our_models_only():
    with_baselines = groups_figure_title("NDCG@10", [0, 1, 2], baselines=True)
    assert with_baselines.startswith(
        "Per-group NDCG@10 (our models: mean over seeds 0, 1, 2; RecBole baselines: one run each)\n"
    )
    assert with_baselines.endswith("95% bootstrap interval over the group's test users (1000 resamples)")
    assert "baselines" not in groups_figure_title("NDCG@10", [0], baselines=False)
