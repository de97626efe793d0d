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
from diffurec.metrics import ndcg
from diffurec.report.forest import STATUS_COLOURS, comparisons, forest_figure
from diffurec.report.uncertainty import Method
from diffurec.report.verdict import (
    CONTRADICTED,
    INCONCLUSIVE,
    NO_EFFECT,
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
    # All reverse steps beat 1 step (3 ranks lower each) and equal x_t = 0 exactly: no effect there.
    c8b = _row(verdict, "C8b/amazon-beauty/v1")
    assert [verdict.status(t) for t in c8b.tests] == [SUPPORTED, NO_EFFECT]
    assert verdict.row_status(c8b) == NO_EFFECT
    assert c8b.tests[1].estimate.interval == (0.0, 0.0)
    # C1 decides on the mean of the six metrics; the six per metric are shown only.
    c1 = _row(verdict, "C1/amazon-beauty/v1")
    assert [t.decisive for t in c1.tests] == [True] + [False] * 6
    assert [verdict.status(t) for t in c1.tests[1:]] == [None] * 6
    assert c1.tests[0].paper == 0.015


def test_an_identical_variant_has_no_effect_and_a_worse_one_is_contradicted() -> None:
    same = _rows(judge([_evidence(v1_shift=0)], PAPER, SETTINGS))
    worse = _rows(judge([_evidence(v1_shift=-8)], PAPER, SETTINGS))
    for claim in ("C1/amazon-beauty/v1", "C2/amazon-beauty/v1", "C4a/amazon-beauty"):
        assert same[claim] == NO_EFFECT, claim
        assert worse[claim] == CONTRADICTED, claim


def test_each_claim_on_each_dataset_is_its_own_family_read_at_alpha_over_m() -> None:
    verdict = judge([_evidence(), _evidence("ml-100k")], PAPER, SETTINGS)
    # C1: V1 and V2; C5: GRU4Rec alone (SASRec did not converge); C8b: 3 models x 2 ablations.
    assert verdict.families["C1", "amazon-beauty"] == 2 and verdict.families["C4a", "ml-100k"] == 1
    assert verdict.families["C5", "amazon-beauty"] == 1 and verdict.families["C8b", "amazon-beauty"] == 6
    c1 = _row(verdict, "C1/amazon-beauty/v1")
    assert c1.tests[0].estimate.confidence == pytest.approx(1 - 0.05 / 2)
    assert c1.tests[1].estimate.confidence == pytest.approx(0.95)
    assert verdict.adjusted_p(c1, c1.tests[0]) == pytest.approx(min(1.0, 2 * c1.tests[0].estimate.p))
    assert "Family (decisive comparisons per dataset, each interval at 1 − 0.05 / m): Amazon Beauty: 2; " in (
        render_verdict(verdict, [_evidence(), _evidence("ml-100k")]))


def test_a_raw_p_below_alpha_can_be_above_it_once_adjusted_and_the_interval_says_so() -> None:
    # Three models' ensembles, each one place better than its runs for 6% of the users: p 0.02 alone.
    ev = _evidence(seeds=1)
    lifted = (np.arange(USERS) * 7919) % 100 < 6
    ensembles = {v: np.where(lifted, np.maximum(1, ev.ranks[v][0] - 1), ev.ranks[v][0]) for v in ("baseline", "v1", "v2")}
    verdict = judge([dataclasses.replace(ev, seeds=(0, 1), ranks={k: np.repeat(r, 2, axis=0) for k, r in
                                                                   ev.ranks.items()},
                                         ablations={}, ensembles=ensembles)], PAPER, SETTINGS)
    found = False
    for row in (r for r in verdict.rows if r.claim.id == "C7"):
        test = row.headline
        adjusted = verdict.adjusted_p(row, test)
        assert verdict.family(row) == 3
        if test.estimate.p < 0.05 <= adjusted:
            found = True
            low, high = test.estimate.interval
            assert low <= 0.0 <= high and verdict.status(test) != SUPPORTED
    assert found


@pytest.mark.parametrize("trial", range(6))
def test_every_status_agrees_with_its_interval_on_a_random_page(trial: int) -> None:
    rng = np.random.default_rng(trial)
    seeds = int(rng.integers(1, 5))
    ev = _evidence(seeds=seeds, v1_shift=int(rng.integers(-3, 4)))
    noisy = {k: np.maximum(1, r + rng.integers(-4, 5, r.shape)) for k, r in ev.ranks.items()}
    verdict = judge([dataclasses.replace(ev, ranks=noisy, ablations={})], PAPER, SETTINGS)
    for row in verdict.rows:
        for test in (t for t in row.tests if t.decisive and t.estimate is not None):
            low, high = test.estimate.interval
            status = verdict.status(test)
            adjusted = verdict.adjusted_p(row, test)
            excludes_zero = low > 0.0 or high < 0.0
            assert (adjusted < SETTINGS.alpha) == excludes_zero, row.id
            if test.equivalence:
                continue
            if excludes_zero:
                assert status == (SUPPORTED if (low > 0) == (test.direction > 0) else CONTRADICTED), row.id
            else:
                inside = -test.smallest < low and high < test.smallest
                assert status == (NO_EFFECT if inside else INCONCLUSIVE), row.id


def _independent_v1(trial: int = 0) -> DatasetEvidence:
    """V1 and DiffuRec drawn alike: independent ranks for each (seed, user), the same distribution."""
    rng = np.random.default_rng([7, trial])
    ev = _evidence(seeds=3)
    return dataclasses.replace(ev, ranks={**ev.ranks, "v1": rng.integers(1, 41, (3, USERS)),
                                          "baseline": rng.integers(1, 41, (3, USERS))})


def test_a_noisy_null_is_never_supported_nor_contradicted() -> None:
    for trial in range(5):
        verdict = judge([_independent_v1(trial)], PAPER, SETTINGS)
        assert _rows(verdict)["C4a/amazon-beauty"] in (NO_EFFECT, INCONCLUSIVE)


def test_every_one_of_the_five_statuses_is_reached() -> None:
    verdict = judge([_evidence(seeds=1)], PAPER, SETTINGS)
    reached = set(_rows(verdict).values())
    # No effect: x_t = 0 changes no rank (C8b); inconclusive: V1 drawn apart from DiffuRec, alike.
    reached |= set(_rows(judge([_independent_v1()], PAPER, SETTINGS)).values())
    reached |= set(_rows(judge([_evidence(v1_shift=-8)], PAPER, SETTINGS)).values())
    assert reached == {SUPPORTED, CONTRADICTED, NO_EFFECT, INCONCLUSIVE, NOT_TESTABLE}


def test_an_inconclusive_row_says_how_much_more_sample_would_settle_it() -> None:
    ev = _independent_v1()
    verdict = judge([ev], PAPER, SETTINGS)
    row = _row(verdict, "C4a/amazon-beauty")
    assert verdict.row_status(row) == INCONCLUSIVE
    factor = verdict.needed(row.headline)
    low, high = row.headline.estimate.interval
    effect, smallest = row.headline.estimate.effect, row.headline.smallest
    room = max(abs(effect), smallest - abs(effect))
    assert factor == pytest.approx(((high - low) / 2 / room) ** 2)
    assert f"~{factor:.1f}×" in render_verdict(verdict, [ev]) or f"~{factor:.0f}×" in render_verdict(verdict, [ev])


def test_one_seed_makes_every_per_seed_test_not_testable_with_the_reason() -> None:
    verdict = judge([_evidence(seeds=1)], PAPER, SETTINGS)
    status = _rows(verdict)
    for row_id in ("C2/amazon-beauty/v1", "C3/amazon-beauty/v2", "C7/amazon-beauty/v1", "C9/amazon-beauty/v1"):
        assert status[row_id] == NOT_TESTABLE, row_id
    c2 = _row(verdict, "C2/amazon-beauty/v1").tests[0]
    assert c2.reason == "1 seed: a t-test over seeds needs at least 3"
    assert "1 seed" in verdict.row_reasons(_row(verdict, "C7/amazon-beauty/v1"))[0]
    # Per-user claims still stand on one seed, on the users' variance alone.
    assert status["C1/amazon-beauty/v1"] == SUPPORTED
    assert _row(verdict, "C1/amazon-beauty/v1").headline.estimate.method == Method.USERS
    assert metrics_block(verdict)["C2/amazon-beauty/v1"]["status"] == NOT_TESTABLE


def test_three_seeds_put_the_seeds_variance_in_every_per_user_interval() -> None:
    verdict = judge([_evidence(seeds=3)], PAPER, SETTINGS)
    assert _row(verdict, "C1/amazon-beauty/v1").headline.estimate.method == Method.SEEDS_AND_USERS
    assert _row(verdict, "C2/amazon-beauty/v1").headline.estimate.method == Method.SEEDS
    page = render_verdict(verdict, [_evidence(seeds=3)])
    assert "| seeds and users |" in page and "| seeds (paired t) |" in page


def test_c2_decides_on_seeds_and_shows_the_papers_test_beside() -> None:
    verdict = judge([_evidence(seeds=3)], PAPER, SETTINGS)
    per_seed, paper_style = _row(verdict, "C2/amazon-beauty/v1").tests
    assert per_seed.decisive and not paper_style.decisive
    assert paper_style.estimate.seeds == 6  # the six metric means as six pairs


def test_c3_is_not_testable_when_most_runs_ended_at_the_cap() -> None:
    ev = _evidence(seeds=3)
    training = {k: Training(t.time_to_best_s, t.best_epoch, (False, False, True)) for k, t in ev.training.items()}
    verdict = judge([dataclasses.replace(ev, training=training)], PAPER, SETTINGS)
    assert verdict.row_reasons(_row(verdict, "C3/amazon-beauty/v1")) == [
        "4 of 6 runs ended at the epoch cap: their time to the best epoch is censored (raise train.epochs)"]
    # C5 holds our models to the baselines' rule: V2's capped runs make it not testable.
    assert "ended at the epoch cap" in verdict.row_reasons(_row(verdict, "C5/amazon-beauty/GRU4Rec"))[0]


def test_c5_without_baselines_is_one_row_not_testable() -> None:
    verdict = judge([_evidence(baseline_names=(), baselines={})], PAPER, SETTINGS)
    (row,) = [row for row in verdict.rows if row.claim.id == "C5"]
    assert verdict.row_status(row) == NOT_TESTABLE
    assert verdict.row_reasons(row) == ["this run re-ran no baseline (params baselines is empty)"]
    assert metrics_block(verdict)["C5/amazon-beauty"]["status"] == NOT_TESTABLE


def test_c7_compares_like_with_like_under_each_ensemble_reading() -> None:
    ev = _evidence(seeds=3)
    runs = _row(judge([ev], PAPER, SETTINGS), "C7/amazon-beauty/v1").headline
    inference = _row(judge([dataclasses.replace(ev, ensemble_mode="inference")], PAPER, SETTINGS),
                     "C7/amazon-beauty/v1").headline
    # runs: the ensemble against each seed's run; inference: against the first seed's run alone.
    assert runs.estimate.seeds == 3 and inference.estimate.seeds == 1
    first = ndcg(ev.ranks["v1"][0], 10)
    assert inference.estimate.effect == pytest.approx(float((ndcg(ev.ensembles["v1"], 10) - first).mean()))
    assert "inference: seed 0's model" in inference.note


def test_a_row_without_a_decisive_comparison_is_not_testable() -> None:
    verdict = judge([_evidence()], PAPER, SETTINGS)
    row = dataclasses.replace(_row(verdict, "C1/amazon-beauty/v1"), tests=())
    assert verdict.row_status(row) == NOT_TESTABLE


def test_two_seeds_are_too_few_for_a_t_test_but_enough_for_c9() -> None:
    verdict = judge([_evidence(seeds=2)], PAPER, SETTINGS)
    assert _rows(verdict)["C3/amazon-beauty/v1"] == NOT_TESTABLE
    assert _rows(verdict)["C9/amazon-beauty/v1"] in (SUPPORTED, CONTRADICTED, INCONCLUSIVE)


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
    # Within one std of our mean, and std / mean = 0.002 / 0.051 = 0.039 < 0.05: compatible and stable.
    near = Compatibility(paper=0.0500, mean=0.0510, std=0.0020, cv_threshold=0.05)
    assert near.compatible and near.stable
    # One std short of the printed number; and a spread of 10% of the mean is not stable.
    assert not Compatibility(0.0500, 0.0450, 0.0020, 0.05).compatible
    assert not Compatibility(0.0500, 0.0500, 0.0050, 0.05).stable


def test_c4b_is_an_equivalence_and_c6_compares_head_with_long_tail() -> None:
    ev = _evidence()
    far = dataclasses.replace(ev, ranks={**ev.ranks, "v2": np.maximum(1, ev.ranks["v1"] - 10)})
    assert _rows(judge([far], PAPER, SETTINGS))["C4b/amazon-beauty"] == CONTRADICTED
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
    ev = _evidence(seeds=1)
    page = render_verdict(judge([ev], PAPER, SETTINGS), [ev])
    assert render_verdict(judge([ev], PAPER, SETTINGS), [ev]) == page
    other = dataclasses.replace(SETTINGS, bootstrap_seed=1)
    assert render_verdict(judge([ev], PAPER, other), [ev]) != page


def test_the_forest_plot_draws_every_comparison_with_an_interval_in_its_statuss_colour() -> None:
    verdict = judge([_evidence()], PAPER, SETTINGS)
    found = comparisons(verdict)
    assert len(found) == sum(1 for row in verdict.rows for t in row.tests if t.decisive and t.estimate is not None)
    metrics_panel, ratio_panel = forest_figure(verdict).axes
    assert len(ratio_panel.get_yticklabels()) == 2  # C3: V1 and V2, on their own axis
    intervals = [line for line in metrics_panel.get_lines() if line.get_linewidth() == 2]
    expected = [STATUS_COLOURS[verdict.status(t)] for _, t in found if not t.ratio]
    assert [line.get_color() for line in intervals] == expected


def test_metrics_block_has_one_entry_per_row_with_rounded_numbers() -> None:
    verdict = judge([_evidence(), _evidence("ml-100k")], PAPER, SETTINGS)
    block = metrics_block(verdict)
    assert list(block) == [row.id for row in verdict.rows]
    entry = block["C1/ml-100k/v1"]
    assert set(entry) == {"status", "effect", "ci_low", "ci_high", "confidence", "p", "p_adjusted", "family"}
    assert entry["effect"] == round(entry["effect"], 4) and entry["ci_low"] < entry["effect"] < entry["ci_high"]
    assert entry["family"] == 2 and entry["confidence"] == 0.975
    assert block["C9/ml-100k/v1"] == {"status": NOT_TESTABLE, "effect": None, "ci_low": None, "ci_high": None,
                                      "confidence": None, "p": None, "p_adjusted": None, "family": 0}


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
                     "time_to_best_s": 10.0 + seed, "stopped_early": True}
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
            "--summary-out", str(root / "reports/summary.md"), "--figure", str(root / "reports/figures/verdict.png"),
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
    assert "| C9 the printed numbers reproduce | MovieLens-100K | V1: ours vs printed |" in page
    assert run_verdict(tmp_path)[0] == page
    # The summary: the run's scale first, then the answer, its effects and what the paper leaves out.
    summary = (tmp_path / "reports/summary.md").read_text()
    scale = "*This run: MovieLens-100K; hidden 128, 4 blocks, max_len 100, 32 diffusion steps; at most 41 epochs"
    assert summary.splitlines()[2].startswith(scale) and page.splitlines()[2] == summary.splitlines()[2]
    answer = next(line for line in summary.splitlines() if line.startswith("| C1 "))
    assert answer == "| C1 V1 and V2 beat DiffuRec | supported |"
    assert "| C8a | MovieLens-100K | DiffuRec − Transformer, no diffusion |" in summary
    assert "Table 4 swaps its V1 and V2 labels" in summary
    assert (tmp_path / "reports/figures/verdict.png").read_bytes()[:4] == b"\x89PNG"


def test_missing_upstream_files_still_give_the_page_with_reasons(tmp_path: Path) -> None:
    root = make_runs(tmp_path)
    (root / "runs/ensemble/ml-100k/v1/ranks.parquet").unlink()
    (root / "runs/tables/metrics.json").unlink()
    _write_ranks(root / "runs/baselines/ml-100k/GRU4Rec/ranks.parquet", ["someone else"], {"rank": np.ones(1)})
    page, metrics = run_verdict(root)
    assert list(metrics) == ["verdict"]
    assert "metrics.json holds the verdict block alone" in page and "dvc repro tables" in page
    c7 = next(line for line in page.splitlines() if line.startswith("| C7 ") and "V1" in line)
    assert "**not testable here**: " in c7 and "ranks.parquet: not found; run the ensemble stage first" in c7
    c5 = next(line for line in page.splitlines() if line.startswith("| C5 ") and "GRU4Rec" in line)
    assert "GRU4Rec covers other test users than the split" in c5
    assert metrics["verdict"]["C1/ml-100k/v1"]["status"] == SUPPORTED


def test_one_seed_on_the_stage_turns_the_per_seed_claims_not_testable(tmp_path: Path) -> None:
    _, metrics = run_verdict(make_runs(tmp_path, seeds=(0,)))
    for row_id in ("C2/ml-100k/v1", "C2/ml-100k/v2", "C3/ml-100k/v1", "C3/ml-100k/v2", "C7/ml-100k/v1"):
        assert metrics["verdict"][row_id]["status"] == NOT_TESTABLE, row_id
