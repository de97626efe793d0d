"""benchmarks/device/grid_verdict.py: the verdict of docs/reproduction.md, from fabricated ledger
files whose answer is known by construction, through the `reproduction` command and its evidence."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from device import grid_verdict
from device.experiments import GRID_OVERRIDES, GRID_RECIPE, profile_config
from device.grid_report import baseline_records, grid_cells
from device.lease import sha256
from device.ledger import FORMAT, pack_ranks, read_ledger
from diffurec.report.evidence import ABLATION, BASELINE_RUN, ENSEMBLE, HEAD_ITEMS, ONE_STEP, ZERO_XT, Training
from diffurec.report.verdict import NOT_TESTABLE, SUPPORTED
from diffurec.variants import CONTROL, VARIANTS
from tests.device_support import USERS, baseline_record, grid_record, invoke

CONFIG = profile_config(GRID_RECIPE, GRID_OVERRIDES)
SEEDS = (0, 1, 2)


def _split(folder: Path) -> Path:
    """Beauty's split: every user trains on "hot" and an item of their own; every other user (the
    first, the third, ...) is tested on "hot", the most popular item, the rest on an item no one
    trained on, so those users are the head."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"user_id": user, "train": ["hot", f"c{user}"], "valid": f"v{user}", "test": f"t{user}" if i % 2 else "hot"}
            for i, user in enumerate(USERS)]
    path = folder / "amazon-beauty.parquet"
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


def _diffurec(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 41, size=len(USERS))


# Three complete seeds on Beauty: V1 ranks every target at a quarter of DiffuRec's rank (better for
# every user DiffuRec does not rank first), V2 as DiffuRec, the control 5 places worse.
MADE = {"baseline": _diffurec, "v1": lambda s: -(-_diffurec(s) // 4), "v2": _diffurec,
        CONTROL: lambda s: _diffurec(s) + 5}


def _grid() -> list[dict]:
    return [grid_record("amazon-beauty", v, seed, MADE[v](seed)) for seed in SEEDS for v in VARIANTS]


def _ledger(folder: Path, records: list[dict], split: Path | None) -> Path:
    """One ledger file holding `records`, from a call that carried `split`."""
    folder.mkdir(parents=True, exist_ok=True)
    call = {"splits": {"amazon-beauty": sha256(split) if split else "0" * 64}}
    ledger = {"format": FORMAT, "call": call, "experiments": [{"id": "G-amazon-beauty", "runs": records}]}
    (folder / "2026-12-01T000000Z-nvidia-h200.json").write_text(json.dumps(ledger))
    return folder


def _page(tmp_path: Path, records: list[dict], split: Path | None = None) -> str:
    ledger = _ledger(tmp_path / "ledger", records, split)
    out = tmp_path / "reproduction.md"
    invoke("reproduction", "--ledger", ledger, "--out", out, "--splits", tmp_path / "split")
    return out.read_text()


def _summary_row(page: str, claim: str, compared: str) -> str:
    (line,) = [line for line in page.splitlines() if line.startswith(f"| {claim} ") and f"| {compared} |" in line]
    return line


def test_a_complete_grid_where_v1_beats_diffurec_supports_c1_and_tests_c2(tmp_path: Path) -> None:
    page = _page(tmp_path, _grid(), _split(tmp_path / "split"))
    tables, verdict = page.split("## Does the paper hold at its scale?\n")
    assert "### Table 3: performance" in tables and "## Does the paper" not in tables
    # The stage's page under the section, its title dropped and its headings one level down.
    assert "# Verdict:" not in verdict and "\n### Summary\n" in verdict and "\n### Notes\n" in verdict
    c1 = _summary_row(verdict, "C1", "V1 − DiffuRec")
    assert "| Amazon Beauty | V1 − DiffuRec |" in c1 and c1.endswith(f"| **{SUPPORTED}** |")
    assert NOT_TESTABLE not in _summary_row(verdict, "C2", "V1 − DiffuRec")
    # What the queue does not run, and what the split gives (even users hold the head items).
    assert f"**{NOT_TESTABLE}**: {grid_verdict.NOT_RUN}" in _summary_row(verdict, "C7", "ensemble − single runs, V1")
    assert "30 head, 30 long-tail users" in verdict
    assert "Every dataset of this run is at the paper's configuration" in verdict
    assert "Amazon Toys & Games" not in verdict and "MovieLens-1M" not in verdict


def test_a_ledger_of_baselines_only_says_why_nothing_is_testable(tmp_path: Path) -> None:
    gru = baseline_record("GRU4Rec", "GRU4Rec", _diffurec(9))
    page = _page(tmp_path, [gru, baseline_record("GRU4Rec", "GRU4Rec", _diffurec(8), dataset="amazon-toys-games")])
    verdict = page.split("## Does the paper hold at its scale?\n")[1]
    assert "Nothing can be tested yet: each of the verdict's 46 rows" in verdict
    # One row per claim, both datasets in it, the reason once: C1 to C9 with C4 and C8 in two parts.
    rows = [line for line in verdict.splitlines() if re.match(r"\| C\d", line)]
    claims = ("C1", "C2", "C3", "C4a", "C4b", "C5", "C6", "C7", "C8a", "C8b", "C9")
    assert [row.split(" | ")[0] for row in rows] == [f"| {claim}" for claim in claims]
    assert all(row.endswith(f"| Amazon Beauty, Amazon Toys & Games | {grid_verdict.NO_SEED} |") for row in rows)
    assert "MovieLens-1M" not in verdict and "### Summary" not in verdict


def test_an_empty_ledger_has_nothing_to_judge(tmp_path: Path) -> None:
    assert "No run of the grid or of its baselines is in the ledger yet" in _page(tmp_path, [])


def test_the_evidence_holds_what_the_records_hold(tmp_path: Path) -> None:
    split = _split(tmp_path / "split")
    cut = baseline_record("SASRec", "SASRec-CE", _diffurec(7), stopped_early=False, cut=True)
    # Seed 3 of DiffuRec alone: not complete, so not in the evidence.
    extra = grid_record("amazon-beauty", "baseline", 3, _diffurec(3))
    gru = baseline_record("GRU4Rec", "GRU4Rec", _diffurec(9))
    records = read_ledger(_ledger(tmp_path / "ledger", [*_grid(), extra, gru, cut], split))
    cells, reruns = grid_cells(records), baseline_records(records)
    evidence = grid_verdict.grid_evidence("amazon-beauty", cells, reruns, CONFIG, split)
    assert evidence.dataset == "amazon-beauty" and evidence.seeds == SEEDS
    assert set(evidence.ranks) == set(VARIANTS)
    for variant in VARIANTS:
        assert evidence.ranks[variant].tolist() == [MADE[variant](seed).tolist() for seed in SEEDS]
        assert evidence.training[variant] == Training((60.0, 61.0, 62.0), (40, 41, 40))
    assert evidence.ensembles == {} and evidence.ablations == {}
    assert evidence.baseline_names == ("GRU4Rec", "SASRec", "SASRec-CE", "BERT4Rec")
    assert evidence.baselines["GRU4Rec"].ranks.tolist() == _diffurec(9).tolist()
    assert evidence.baselines["GRU4Rec"].converged and not evidence.baselines["SASRec-CE"].converged
    assert set(evidence.baselines) == {"GRU4Rec", "SASRec-CE"}
    assert evidence.head.tolist() == [i % 2 == 0 for i in range(len(USERS))]
    assert evidence.setup_differences == ()
    not_run = {(ENSEMBLE, v): grid_verdict.NOT_RUN for v in VARIANTS}
    not_run |= {(ABLATION, v, s): grid_verdict.NOT_RUN for v in VARIANTS if v != CONTROL for s in (ONE_STEP, ZERO_XT)}
    assert dict(evidence.unreadable) == {
        **not_run,
        (BASELINE_RUN, "SASRec"): "no settled run of SASRec on this dataset in the ledger yet",
        (BASELINE_RUN, "BERT4Rec"): "no settled run of BERT4Rec on this dataset in the ledger yet",
    }



def test_a_split_or_a_baseline_that_does_not_match_the_runs_is_left_out_with_why(tmp_path: Path) -> None:
    split = _split(tmp_path / "split")
    other = baseline_record("GRU4Rec", "GRU4Rec", _diffurec(9))
    other["ranks"] = pack_ranks(pd.Series(_diffurec(9), index=[f"x{user}" for user in USERS]))
    # The call carried another split than the one here.
    records = read_ledger(_ledger(tmp_path / "ledger", [*_grid(), other], None))
    cells, reruns = grid_cells(records), baseline_records(records)
    evidence = grid_verdict.grid_evidence("amazon-beauty", cells, reruns, CONFIG, split)
    assert evidence.head is None and "not the split the runs used" in evidence.unreadable[HEAD_ITEMS,]
    assert "GRU4Rec" not in evidence.baselines
    assert evidence.unreadable[BASELINE_RUN, "GRU4Rec"] == ("GRU4Rec ranked other test users than DiffuRec "
                                                            "(baseline)'s runs (users_sha256 differs)")
    missing = grid_verdict.grid_evidence("amazon-beauty", cells, reruns, CONFIG, tmp_path / "none.parquet")
    assert missing.head is None and "device_queue.py prepare" in missing.unreadable[HEAD_ITEMS,]
