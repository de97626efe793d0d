"""benchmarks/device/grid_report.py: the paper's grid rendered from ledger records, checked against
values computed by hand from the records' own ranks."""

from __future__ import annotations

from pathlib import Path
from statistics import fmean

import numpy as np
import pandas as pd
import pytest

from device import grid_report
from device.ledger import pack_ranks, unpack_ranks
from diffurec.metrics import ndcg, summarize
from diffurec.report.significance import comparison_pairs, signed_rank_test
from diffurec.variants import CONTROL, VARIANTS
from pipeline.files.paper_tables import load_paper_tables
from tests.device_support import KS, USERS, baseline_record, grid_record

ROOT = Path(__file__).resolve().parents[1]
PAPER = load_paper_tables(ROOT / "reference" / "paper_tables.yaml")


def _ranks(seed: int, shift: int) -> np.ndarray:
    return np.random.default_rng(100 * seed + shift).integers(1, 40, size=len(USERS))


def _records() -> list[dict]:
    records = []
    for seed in (0, 1):
        for shift, variant in enumerate(VARIANTS):
            records.append(grid_record("amazon-beauty", variant, seed, _ranks(seed, shift)))
    # Seed 2 of v1 alone: not complete, so in no table; a failed run and another recipe never count.
    records.append(grid_record("amazon-beauty", "v1", 2, _ranks(2, 1)))
    records.append(grid_record("amazon-beauty", "v2", 2, _ranks(2, 2), status="failed"))
    records.append(grid_record("amazon-beauty", "baseline", 2, _ranks(2, 0), overrides=("train.epochs=120",)))
    # Seed 3 of the paper's three but not of the control: not complete either.
    records.extend(grid_record("amazon-beauty", variant, 3, _ranks(3, shift)) for shift, variant in
                   enumerate(("baseline", "v1", "v2")))
    return records


def test_ranks_round_trip_through_the_ledger_text():
    ranks = np.array([1, 12101, 3, 2**31 - 1])
    packed = pack_ranks(pd.Series(ranks, index=["a", "b", "c", "d"]))
    assert unpack_ranks(packed).tolist() == ranks.tolist()
    assert packed["users_sha256"] != pack_ranks(pd.Series(ranks, index=["a", "b", "d", "c"]))["users_sha256"]


def test_complete_seeds_need_every_variant_of_the_grid_recipe():
    cells = grid_report.grid_cells(_records())
    assert grid_report.complete_seeds(cells, "amazon-beauty") == (0, 1)
    assert sorted(cells["amazon-beauty", "v1"].runs) == [0, 1, 2, 3]
    assert sorted(cells["amazon-beauty", "baseline"].runs) == [0, 1, 3]
    assert sorted(cells["amazon-beauty", CONTROL].runs) == [0, 1]
    assert grid_report.complete_seeds(cells, "ml-1m") == ()
    # A later record of the same seed replaces the earlier one.
    later = grid_record("amazon-beauty", "v2", 0, _ranks(9, 9))
    cells = grid_report.grid_cells([*_records(), later])
    assert cells["amazon-beauty", "v2"].runs[0] is later


def test_tables_and_tests_come_from_the_records_metrics_and_ranks():
    records = _records()
    cells = grid_report.grid_cells(records)
    metrics = ("HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20")
    runs, comparisons = grid_report.dataset_results("amazon-beauty", cells, (0, 1), metrics)
    v1 = runs["amazon-beauty", "v1"]
    assert v1.seeds == (0, 1) and v1.ensemble is None and v1.best_epoch == (40, 41)
    assert v1.metrics["NDCG@10"] == tuple(summarize(_ranks(seed, 1), KS)["NDCG@10"] for seed in (0, 1))
    assert v1.time_to_best_s == (60.0, 61.0) and v1.devices == ("NVIDIA H200", "NVIDIA H200")
    # The per-user test pairs each user's NDCG@10, averaged over the two seeds, with the baseline's.
    mine = np.mean([ndcg(_ranks(seed, 1), 10) for seed in (0, 1)], axis=0)
    theirs = np.mean([ndcg(_ranks(seed, 0), 10) for seed in (0, 1)], axis=0)
    expected = signed_rank_test(mine, theirs)
    assert comparisons["amazon-beauty", "v1", "baseline"].per_user == expected
    # The pairs the ttest stage tests: every model against DiffuRec, and against the control.
    assert set(comparisons) == {("amazon-beauty", *pair) for pair in comparison_pairs(VARIANTS)}
    control = np.mean([ndcg(_ranks(seed, 3), 10) for seed in (0, 1)], axis=0)
    assert comparisons["amazon-beauty", "v1", CONTROL].per_user == signed_rank_test(mine, control)
    assert comparisons["amazon-beauty", "v1", CONTROL].reference == CONTROL
    per_metric = comparisons["amazon-beauty", "v1", "baseline"].per_metric["HR@10"]
    assert per_metric.n == 2 and per_metric.mean_diff == pytest.approx(
        fmean(v1.metrics["HR@10"]) - fmean(runs["amazon-beauty", "baseline"].metrics["HR@10"]))


def test_the_document_lists_seeds_done_and_renders_the_pipeline_tables():
    text = grid_report.render(_records(), KS, PAPER, "ledger/")
    assert ("| Dataset | Complete seeds | Which | DiffuRec (baseline): seeds run | V1 (+cross-attention): seeds run | "
            "V2 (+cross-attention +offset noise): seeds run | Transformer, no diffusion: seeds run | "
            "RecBole baselines run |") in text
    assert "| Amazon Beauty | 2 | 0, 1 | 0; 1; 3 | 0; 1; 2; 3 | 0; 1; 3 | 0; 1 | — |" in text
    assert "| MovieLens-1M | 0 | — | — | — | — | — | — |" in text
    assert "## Amazon Beauty (`amazon-beauty`), 2 seeds" in text
    for title in ("Table 3: performance", "Table 4: paired significance tests", "Table 5: overall comparison",
                  "Table 2: convergence training time"):
        assert f"### {title}" in text
    mean = fmean(summarize(_ranks(seed, 0), KS)["NDCG@10"] for seed in (0, 1))
    assert "| DiffuRec (baseline) | mean ± std over 2 seeds |" in text and f"{mean:.4f} ± " in text
    # The control: a row of ours in Tables 3, 5 and 2, and no paper row (it has no paper label).
    assert "| Transformer, no diffusion | mean ± std over 2 seeds |" in text
    assert "| Transformer, no diffusion | paper |" not in text
    assert "| Transformer, no diffusion | ours (control) |" in text
    assert "(Algorithm 3) |" not in text and "no ensemble row" in text
    # Table 5 beside the paper's reported methods (STOSA is one of them on Beauty).
    assert "| STOSA | reported |" in text and "| SASRec | reported |" in text
    assert "No RecBole baseline has been re-run at the paper's scale yet" in text
    assert "No complete seed" not in text


def test_re_run_baselines_replace_their_reported_rows_and_meet_our_best_in_the_per_user_test():
    strong = np.maximum(_ranks(7, 0) // 3, 1)
    records = [
        *_records(),
        baseline_record("SASRec", "SASRec-CE", strong),
        # Cut by a call's time although it had the whole call: settled, shown, not converged.
        baseline_record("GRU4Rec", "GRU4Rec", _ranks(7, 1), stopped_early=False, cut=True),
        # Neither a cut record that is not settled nor another recipe's baseline counts.
        baseline_record("BERT4Rec", "BERT4Rec", strong, settled=False, stopped_early=False, cut=True),
        baseline_record("BERT4Rec", "BERT4Rec", strong, recipe="profiles/official.yaml"),
    ]
    text = grid_report.render(records, KS, PAPER, "ledger/")
    assert f"| SASRec-CE | re-run | {summarize(strong, KS)['HR@5']:.4f}" in text.replace("**", "")
    assert "| GRU4Rec | re-run |" in text
    assert "| Amazon Beauty | 2 | 0, 1 | 0; 1; 3 | 0; 1; 2; 3 | 0; 1; 3 | 0; 1 | SASRec-CE, GRU4Rec |" in text
    # A re-run RecBole model replaces the paper's row of it; BERT4Rec was not re-run.
    assert "| SASRec | reported |" not in text and "| GRU4Rec | reported |" not in text
    assert "| BERT4Rec | reported |" in text
    assert "Not converged, so left out of the Improv. rows and the per-user test: GRU4Rec" in text
    assert "| Amazon Beauty | GRU4Rec | GRU4Rec | CE | 300 | 10 | 100 |" in text and "| 30 | 41 | no | 95.5 |" in text
    assert "on NVIDIA H200" in text and "tested at its best epoch so far: GRU4Rec (epoch 41)." in text
    # The per-user test: our best diffusion model by mean NDCG@10 against SASRec-CE, from the ranks.
    means = {v: fmean(summarize(_ranks(seed, shift), KS)["NDCG@10"] for seed in (0, 1))
             for shift, v in enumerate(VARIANTS) if v != CONTROL}
    best = max(means, key=means.get)
    shift = list(VARIANTS).index(best)
    expected = signed_rank_test(np.mean([ndcg(_ranks(seed, shift), 10) for seed in (0, 1)], axis=0), ndcg(strong, 10))
    assert "vs SASRec-CE (strongest converged re-run baseline" in text
    assert f"| Wilcoxon signed-rank | {len(USERS)} | {100 * expected.mean_diff:+.3f} |" in text  # in pp


def test_re_run_baselines_face_the_papers_printed_row_before_any_seed_is_complete():
    strong = np.maximum(_ranks(7, 0) // 3, 1)
    records = [baseline_record("SASRec", "SASRec-CE", strong),
               baseline_record("GRU4Rec", "GRU4Rec", _ranks(7, 1), stopped_early=False, cut=True)]
    text = grid_report.render(records, KS, PAPER, "ledger/")
    assert "No complete seed of the grid has come back" in text
    ours = summarize(strong, KS)
    # SASRec-CE trains RecBole's SASRec, so it faces the row the paper prints for SASRec on Beauty.
    printed = PAPER.reported["amazon-beauty"]["SASRec"]
    cells = " | ".join(f"{ours[m]:.4f} / {printed[m]:.4f}" for m in ("HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20"))
    assert f"| Amazon Beauty | SASRec-CE | NVIDIA H200 | 30 | 41 | yes | 96 | {cells} |" in text
    assert "| Amazon Beauty | GRU4Rec | NVIDIA H200 | 30 | 41 | no | 96 |" in text


def test_an_empty_ledger_says_nothing_has_come_back():
    text = grid_report.render([], KS, PAPER, "ledger/")
    assert "No complete seed of the grid has come back from a device yet" in text
    assert "| Amazon Beauty | 0 | — | — | — | — | — | — |" in text
    assert "RecBole baselines re-run" not in text


def test_runs_that_ranked_other_users_are_refused():
    records = _records()
    other = records[1]
    other["ranks"] = pack_ranks(pd.Series(_ranks(0, 1), index=[f"x{u}" for u in USERS]))
    cells = grid_report.grid_cells(records)
    with pytest.raises(ValueError, match="ranked different users"):
        grid_report.dataset_results("amazon-beauty", cells, (0, 1), ("NDCG@10",))
