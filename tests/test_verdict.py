"""The verdict on synthetic runs whose answer is known by construction: the pure core on in-memory
evidence, then the stage through its command on a small runs folder."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import pipeline.stages.verdict  # noqa: F401  (registers the command)
from diffurec.config import Config, VerdictConfig
from diffurec.report.evidence import ONE_STEP, ZERO_XT, BaselineRanks, DatasetEvidence, Training
from diffurec.report.paper_setup import setup_differences
from diffurec.report.verdict import (
    CONTRADICTED,
    NOT_SUPPORTED,
    NOT_TESTABLE,
    SUPPORTED,
    Compatibility,
    Verdict,
    judge,
)
from diffurec.report.verdict_page import metrics_block, render_verdict
from pipeline.app import app
from pipeline.files.paper_tables import load_paper_tables
from synthetic import cycle_split

REPO = Path(__file__).resolve().parents[1]
PAPER = load_paper_tables(REPO / "reference/paper_tables.yaml")
USERS = 300
SETTINGS = VerdictConfig(bootstrap_resamples=500)


def _ranks(seeds: int, shift: int = 0, seed: int = 0) -> np.ndarray:
    """[seeds, USERS] ranks in 1..40; `shift` > 0 moves every user's target up by that many places."""
    rng = np.random.default_rng([seed, seeds])
    return np.maximum(1, rng.integers(1, 41, (seeds, USERS)) - shift)


def _evidence(dataset: str = "amazon-beauty", seeds: int = 3, v1_shift: int = 8, **changes) -> DatasetEvidence:
    """DiffuRec, V1 better by `v1_shift` ranks (negative: worse), V2 = V1, the control 5 ranks worse."""
    base = _ranks(seeds)
    ranks = {"baseline": base, "v1": np.maximum(1, base - v1_shift), "control": base + 5}
    ranks["v2"] = ranks["v1"]
    fields = dict(
        dataset=dataset,
        seeds=tuple(range(seeds)),
        ranks=ranks,
        ensembles={variant: np.maximum(1, r[0] - 6) for variant, r in ranks.items()},
        training={"baseline": Training((100.0, 110.0, 90.0)[:seeds], (6, 7, 6)[:seeds]),
                  "v1": Training((40.0, 50.0, 41.0)[:seeds], (3, 3, 4)[:seeds]),
                  "v2": Training((45.0, 44.0, 46.0)[:seeds], (3, 4, 3)[:seeds])},
        baseline_names=("GRU4Rec", "SASRec"),
        baselines={"GRU4Rec": BaselineRanks(base[0] + 10, True), "SASRec": BaselineRanks(base[0], False)},
        ablations={v: {ONE_STEP: ranks[v] + 3, ZERO_XT: ranks[v]} for v in ("baseline", "v1", "v2")},
        # Users whose target sits at an even rank of seed 0 count as head items.
        head=base[0] % 2 == 0,
    )
    return DatasetEvidence(**{**fields, **changes})


def _rows(verdict: Verdict) -> dict[str, str]:
    return {row.id: verdict.row_status(row) for row in verdict.rows}


def _row(verdict: Verdict, row_id: str):
    return next(row for row in verdict.rows if row.id == row_id)


def test_a_variant_better_by_construction_is_supported_and_the_rest_as_built() -> None:
    verdict = judge([_evidence()], PAPER, SETTINGS)
    status = _rows(verdict)
    for claim in ("C1", "C2", "C3"):
        assert status[f"{claim}/amazon-beauty/v1"] == SUPPORTED, claim
    # V2 = V1: the equivalence of C4b holds; DiffuRec beats the control (C8a) and GRU4Rec (C5).
    assert status["C4a/amazon-beauty"] == status["C4b/amazon-beauty"] == status["C8a/amazon-beauty"] == SUPPORTED
    assert status["C5/amazon-beauty/GRU4Rec"] == SUPPORTED
    assert status["C5/amazon-beauty/SASRec"] == NOT_TESTABLE
    assert "SASRec did not converge" in verdict.row_reasons(_row(verdict, "C5/amazon-beauty/SASRec"))[0]
    # All reverse steps beat 1 step (3 ranks lower each) but equal x_t = 0: not every part of C8b holds.
    c8b = _row(verdict, "C8b/amazon-beauty/v1")
    assert [verdict.status(t) for t in c8b.tests] == [SUPPORTED, NOT_SUPPORTED]
    assert verdict.row_status(c8b) == NOT_SUPPORTED
    # C1's mean of the six metrics stands beside the paper's: Beauty's Table 3, V1 - DiffuRec.
    headline = _row(verdict, "C1/amazon-beauty/v1").tests[0]
    paper = PAPER.means["amazon-beauty"]
    assert headline.paper == pytest.approx(100 * np.mean(np.subtract(paper["v1"], paper["baseline"])))


def test_an_identical_variant_is_not_supported_and_a_worse_one_contradicted() -> None:
    same = _rows(judge([_evidence(v1_shift=0)], PAPER, SETTINGS))
    worse = _rows(judge([_evidence(v1_shift=-8)], PAPER, SETTINGS))
    for claim in ("C1/amazon-beauty/v1", "C2/amazon-beauty/v1", "C4a/amazon-beauty"):
        assert same[claim] == NOT_SUPPORTED, claim
        assert worse[claim] == CONTRADICTED, claim


def test_the_family_counts_a_shared_test_once_and_holm_adjusts_it() -> None:
    verdict = judge([_evidence()], PAPER, SETTINGS)
    c1_ndcg10 = next(t for t in _row(verdict, "C1/amazon-beauty/v1").tests if t.measure == "NDCG@10")
    (c4a,) = _row(verdict, "C4a/amazon-beauty").tests
    assert c1_ndcg10.key == c4a.key and c1_ndcg10.p == c4a.p
    tests = {t.key: t.p for row in verdict.rows for t in row.tests if t.p is not None and t.reason is None}
    assert len(verdict.p_holm) == len(tests)
    smallest = min(tests, key=tests.get)
    assert verdict.p_holm[smallest] == pytest.approx(min(1.0, len(tests) * tests[smallest]))
    assert f"family of the {len(tests)} distinct tests" in render_verdict(verdict, [_evidence()])


def test_one_seed_makes_every_per_seed_test_not_testable_with_the_reason() -> None:
    verdict = judge([_evidence(seeds=1)], PAPER, SETTINGS)
    status = _rows(verdict)
    for row_id in ("C2/amazon-beauty/v1", "C3/amazon-beauty/v2", "C7/amazon-beauty/v1", "C9/amazon-beauty/v1"):
        assert status[row_id] == NOT_TESTABLE, row_id
    (c2,) = _row(verdict, "C2/amazon-beauty/v1").tests
    assert c2.reason == "1 seed: a per-seed t-test needs at least 3" and c2.effect is not None
    assert "1 seed" in verdict.row_reasons(_row(verdict, "C7/amazon-beauty/v1"))[0]
    # Per-user claims still stand on one seed.
    assert status["C1/amazon-beauty/v1"] == SUPPORTED
    assert metrics_block(verdict)["C2/amazon-beauty/v1"]["status"] == NOT_TESTABLE


def test_two_seeds_are_too_few_for_a_t_test_but_enough_for_c9() -> None:
    verdict = judge([_evidence(seeds=2)], PAPER, SETTINGS)
    assert _rows(verdict)["C3/amazon-beauty/v1"] == NOT_TESTABLE
    assert _rows(verdict)["C9/amazon-beauty/v1"] in (SUPPORTED, NOT_SUPPORTED)


def test_without_the_control_c8a_is_not_testable() -> None:
    ev = _evidence()
    ev = dataclasses.replace(ev, ranks={k: v for k, v in ev.ranks.items() if k != "control"})
    verdict = judge([ev], PAPER, SETTINGS)
    assert verdict.row_reasons(_row(verdict, "C8a/amazon-beauty")) == [
        "Transformer, no diffusion is not in this run (params variants)"
    ]


def test_a_part_that_could_not_be_read_gives_its_reason() -> None:
    ev = _evidence()
    ev = dataclasses.replace(ev, ensembles={}, unreadable={("ensemble", "v1"): "runs/ensemble/x: not found"})
    verdict = judge([ev], PAPER, SETTINGS)
    assert verdict.row_reasons(_row(verdict, "C7/amazon-beauty/v1")) == ["runs/ensemble/x: not found"]
    assert verdict.row_reasons(_row(verdict, "C7/amazon-beauty/v2")) == ["no ensemble of V2 (+cross-attention "
                                                                        "+offset noise) in this run"]


def test_c9_needs_published_numbers_and_the_papers_configuration() -> None:
    verdict = judge([_evidence("ml-100k")], PAPER, SETTINGS)
    reason = verdict.row_reasons(_row(verdict, "C9/ml-100k/v1"))[0]
    assert reason == "the paper prints no Table 3 numbers for V1 on MovieLens-100K"
    default = Config.from_dict(yaml.safe_load((REPO / "params.yaml").read_text()))
    ev = _evidence(setup_differences=setup_differences(default, "amazon-beauty"))
    verdict = judge([ev], PAPER, SETTINGS)
    reason = verdict.row_reasons(_row(verdict, "C9/amazon-beauty/v2"))[0]
    assert reason.startswith("not at the paper's configuration (section 6.2): this run differs in model.hidden, ")
    assert "train.lr" in reason and "data.min_user_inter" not in reason
    assert "| Amazon Beauty | model.hidden | 32 | 128 |" in render_verdict(verdict, [ev])


def test_the_paper_profile_is_the_papers_configuration_and_the_default_is_not() -> None:
    paper = Config.from_dict(yaml.safe_load((REPO / "profiles/paper.yaml").read_text()))
    assert all(setup_differences(paper, dataset) == () for dataset in paper.datasets)
    official = Config.from_dict(yaml.safe_load((REPO / "profiles/official.yaml").read_text()))
    # The official recipe keeps every ML-1M item: its data filter is one of the differences.
    assert "data.filters.ml-1m.min_item_inter" in {d.key for d in setup_differences(official, "ml-1m")}


def test_evidence_refuses_arrays_of_other_users_or_seeds() -> None:
    with pytest.raises(ValueError, match="different numbers of users"):
        _evidence(head=np.ones(USERS + 1, dtype=bool))
    with pytest.raises(ValueError, match="one row per seed"):
        _evidence(seeds=3, ablations={"v1": {ONE_STEP: _ranks(2)}})


def test_compatibility_and_stability_of_a_printed_number() -> None:
    # Within one std of our mean, and std / mean = 0.002 / 0.051 = 0.039 < 0.05: supported.
    near = Compatibility(paper=0.0500, mean=0.0510, std=0.0020, cv_threshold=0.05)
    assert near.compatible and near.stable
    # One std short of the printed number; and a spread of 10% of the mean is not stable.
    assert not Compatibility(0.0500, 0.0450, 0.0020, 0.05).compatible
    assert not Compatibility(0.0500, 0.0500, 0.0050, 0.05).stable


def test_c4b_is_an_equivalence_and_c6_compares_head_with_long_tail() -> None:
    ev = _evidence()
    far = dataclasses.replace(ev, ranks={**ev.ranks, "v2": np.maximum(1, ev.ranks["v1"] - 10)})
    assert _rows(judge([far], PAPER, SETTINGS))["C4b/amazon-beauty"] == CONTRADICTED
    # Head users are those ranked at an even place by seed 0: no reason to rank them better overall.
    head_better = dataclasses.replace(ev, head=ev.ranks["v2"].mean(axis=0) < 15)
    assert _rows(judge([head_better], PAPER, SETTINGS))["C6/amazon-beauty"] == SUPPORTED
    tail_better = dataclasses.replace(ev, head=ev.ranks["v2"].mean(axis=0) > 15)
    assert _rows(judge([tail_better], PAPER, SETTINGS))["C6/amazon-beauty"] == CONTRADICTED


def test_c6_needs_two_users_in_each_group() -> None:
    ev = _evidence()
    one_head = np.zeros(USERS, dtype=bool)
    one_head[0] = True
    verdict = judge([dataclasses.replace(ev, head=one_head)], PAPER, SETTINGS)
    row = _row(verdict, "C6/amazon-beauty")
    assert verdict.row_status(row) == NOT_TESTABLE
    assert verdict.row_reasons(row) == [f"1 head and {USERS - 1} long-tail test users: a comparison needs at least 2 "
                                        "in each group"]


def test_the_bootstrap_seed_fixes_the_page() -> None:
    ev = _evidence()
    page = render_verdict(judge([ev], PAPER, SETTINGS), [ev])
    assert render_verdict(judge([ev], PAPER, SETTINGS), [ev]) == page
    other = dataclasses.replace(SETTINGS, bootstrap_seed=1)
    assert render_verdict(judge([ev], PAPER, other), [ev]) != page
    block = metrics_block(judge([ev], PAPER, other))
    assert block["C1/amazon-beauty/v1"]["p"] == metrics_block(judge([ev], PAPER, SETTINGS))["C1/amazon-beauty/v1"]["p"]


def test_metrics_block_has_one_entry_per_row_with_rounded_numbers() -> None:
    verdict = judge([_evidence(), _evidence("ml-100k")], PAPER, SETTINGS)
    block = metrics_block(verdict)
    assert list(block) == [row.id for row in verdict.rows]
    entry = block["C1/ml-100k/v1"]
    assert set(entry) == {"status", "effect", "ci_low", "ci_high", "p", "p_holm"}
    assert entry["effect"] == round(entry["effect"], 4) and entry["ci_low"] < entry["effect"] < entry["ci_high"]
    assert block["C9/ml-100k/v1"] == {"status": NOT_TESTABLE, "effect": None, "ci_low": None, "ci_high": None,
                                      "p": None, "p_holm": None}


# The stage, through its command, on a small runs folder.

VARIANTS = ("baseline", "v1", "v2", "control")
SHIFT = {"baseline": 0, "v1": 8, "v2": 8, "control": -5}


def _write_ranks(path: Path, users: list[str], columns: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"user_id": users, **{k: v.astype("int64") for k, v in columns.items()}}).to_parquet(path)


def make_runs(root: Path, seeds=(0, 1, 2)) -> Path:
    """params.yaml, data/split and runs/ of ml-100k: V1 = V2 better than DiffuRec, the control worse."""
    split = cycle_split(USERS, 50, seed=0)
    (root / "data/split").mkdir(parents=True)
    split.to_parquet(root / "data/split/ml-100k.parquet")
    users = list(split["user_id"])
    params = {"datasets": ["ml-100k"], "variants": list(VARIANTS), "seeds": list(seeds),
              "baselines": ["GRU4Rec", "SASRec"], "ablation": {"steps": [1, 32]},
              "verdict": {"bootstrap_resamples": 500}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    runs = root / "runs"
    for variant in VARIANTS:
        ranks = np.maximum(1, _ranks(len(seeds)) - SHIFT[variant])
        for i, seed in enumerate(seeds):
            _write_ranks(runs / f"eval/ml-100k/{variant}/seed{seed}/ranks.parquet", users, {"rank": ranks[i]})
            train = {"dataset": "ml-100k", "variant": variant, "seed": seed, "best_epoch": 3,
                     "time_to_best_s": 10.0 + seed}
            (runs / f"train/ml-100k/{variant}/seed{seed}").mkdir(parents=True)
            (runs / f"train/ml-100k/{variant}/seed{seed}/train.json").write_text(json.dumps(train))
            if variant != "control":
                _write_ranks(runs / f"ablation/ml-100k/{variant}/seed{seed}/ranks.parquet", users,
                             {"steps=1": ranks[i] + 3, "steps=32": ranks[i], "zero_xt": ranks[i]})
        _write_ranks(runs / f"ensemble/ml-100k/{variant}/ranks.parquet", users, {"rank": ranks[0]})
    for name, converged in (("GRU4Rec", True), ("SASRec", False)):
        folder = runs / f"baselines/ml-100k/{name}"
        _write_ranks(folder / "ranks.parquet", users, {"rank": _ranks(1)[0] + 10})
        record = {"settings": {"model": name}, "train_seconds": 1.0, "stopped_early": converged}
        (folder / "metrics.json").write_text(json.dumps(record))
    (runs / "tables").mkdir()
    (runs / "tables/metrics.json").write_text(json.dumps({"ml-100k/v1/mean/NDCG@10": 0.1}))
    return root


def run_verdict(root: Path) -> tuple[str, dict]:
    args = ["verdict", "--runs", str(root / "runs"), "--data", str(root / "data"),
            "--paper-tables", str(REPO / "reference/paper_tables.yaml"),
            "--tables-metrics", str(root / "runs/tables/metrics.json"), "--out", str(root / "reports/verdict.md"),
            "--metrics-file", str(root / "metrics.json"), "--params", str(root / "params.yaml")]
    result = CliRunner().invoke(app, args)
    if result.exception is not None:
        raise result.exception
    return (root / "reports/verdict.md").read_text(), json.loads((root / "metrics.json").read_text())


def test_the_stage_writes_the_page_and_the_verdict_block_beside_the_tables_summary(tmp_path: Path) -> None:
    page, metrics = run_verdict(make_runs(tmp_path))
    assert metrics["ml-100k/v1/mean/NDCG@10"] == 0.1
    verdict = metrics["verdict"]
    assert verdict["C1/ml-100k/v1"]["status"] == SUPPORTED and verdict["C8a/ml-100k"]["status"] == SUPPORTED
    assert verdict["C5/ml-100k/GRU4Rec"]["status"] == SUPPORTED
    assert verdict["C5/ml-100k/SASRec"]["status"] == NOT_TESTABLE
    assert verdict["C9/ml-100k/v2"]["status"] == NOT_TESTABLE
    assert page.startswith("# Verdict: do the paper's claims hold on this run?\n")
    assert "| C9 | Average Performance and Standard Deviation Over Multiple Experiments | Table 3 | MovieLens-100K |" in page
    assert run_verdict(tmp_path)[0] == page


def test_missing_upstream_files_still_give_the_page_with_reasons(tmp_path: Path) -> None:
    root = make_runs(tmp_path)
    (root / "runs/ensemble/ml-100k/v1/ranks.parquet").unlink()
    (root / "runs/tables/metrics.json").unlink()
    _write_ranks(root / "runs/baselines/ml-100k/GRU4Rec/ranks.parquet", ["someone else"], {"rank": np.ones(1)})
    page, metrics = run_verdict(root)
    assert list(metrics) == ["verdict"]
    assert "metrics.json holds the verdict block alone" in page and "dvc repro tables" in page
    c7 = next(line for line in page.splitlines() if line.startswith("| C7 |") and "V1" in line)
    assert "**not testable here**: " in c7 and "ranks.parquet: not found; run the ensemble stage first" in c7
    c5 = next(line for line in page.splitlines() if line.startswith("| C5 |") and "GRU4Rec" in line)
    assert "GRU4Rec covers other test users than the split" in c5
    assert metrics["verdict"]["C1/ml-100k/v1"]["status"] == SUPPORTED


def test_one_seed_on_the_stage_turns_the_per_seed_claims_not_testable(tmp_path: Path) -> None:
    _, metrics = run_verdict(make_runs(tmp_path, seeds=(0,)))
    for row_id in ("C2/ml-100k/v1", "C2/ml-100k/v2", "C3/ml-100k/v1", "C3/ml-100k/v2", "C7/ml-100k/v1"):
        assert metrics["verdict"][row_id]["status"] == NOT_TESTABLE, row_id
