"""docs/reproduction.md's verdict: the paper's claims (C1-C9) judged on the grid's runs in the device
ledger by the verdict stage's own code, `judge` (diffurec.report.verdict) and its page
(diffurec.report.verdict_page), on evidence built here from the ledger records; so the day the grid's
runs are ingested, their verdict appears without new code.

A dataset's evidence (diffurec.report.evidence) holds what the ledger has of it: per model the test
ranks and training records (seconds to the best epoch, that epoch) of the dataset's complete seeds,
the seeds Tables 2-5 use, so that the models pair up seed by seed; the re-run RecBole baselines with
their ranks and whether early stopping ended them; and the head/long-tail flags of the test users,
computed as the case study groups users from the split `prepare` built, when that file is here and is
the one the runs' calls carried. The queue runs no ensemble and no inference ablation, so C7 and C8b
are not testable. Whether the runs are at the paper's configuration (C9) is the grid recipe's
(profiles/paper.yaml with the grid's overrides) against section 6.2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from device.grid_report import (
    GridCell,
    baseline_records,
    baseline_run,
    complete_seeds,
    demote,
    grid_cells,
    seed_ranks,
    variant_runs,
)
from device.lease import sha256
from device.ledger import unpack_ranks, users_digest

from diffurec.config import Config
from diffurec.datasets import DATASET_NAMES
from diffurec.errors import DataError
# As a module, so that each part's name says it is the evidence's (evidence.RANKS).
from diffurec.report import evidence
from diffurec.report.groups import head_items
from diffurec.report.paper_setup import setup_differences
from diffurec.report.popularity import popularity_scores
from diffurec.report.tables import PaperTables
from diffurec.report.verdict import NOT_TESTABLE, judge
from diffurec.report.verdict_page import render_verdict, untestable_summary
from diffurec.sequences import encode
from diffurec.variants import VARIANT_NAMES, VARIANTS, find_variant
from pipeline.files.data_tables import read_split

NOT_RUN = "not run by the device queue"
NO_SEED = ("no complete seed of the grid in the ledger yet (a seed is complete when every model, the control "
           "included, has finished it)")
INTRO = (
    "The paper's claims, judged per dataset the ledger covers by the code of the pipeline's verdict stage (the "
    "tests, statuses and page of reports/verdict.md), on what the ledger holds: our models' per-user test ranks and "
    "training records over the dataset's complete seeds (those of the tables above), the re-run RecBole baselines' "
    "ranks and whether early stopping ended them, and the head items from `prepare`'s split (.device/split, when it "
    "is here and is the one the runs used). The device queue runs no ensemble (C7) and no inference ablation (C8b). "
    "The runs count as at the paper's configuration when the grid recipe (`profiles/paper.yaml` with the grid's "
    "overrides) matches its section 6.2."
)
NOTES = (
    "Here the run is the device ledger's grid: per dataset its complete seeds, each model's training record its "
    "ledger record (C3's seconds are those of the card each run ran on, as Table 2 above names them), and the "
    "re-run baselines those of the RecBole baselines table above.",
)


@dataclass
class _Users:
    """The users the first per-user part ranked (their digest); a later part that ranked others is
    left out, with why, since every per-user array of the evidence lists the same users in order."""

    unreadable: dict[tuple[str, ...], str]
    digest: str | None = None
    first: str = ""

    def admit(self, part: tuple[str, ...], digest: str, what: str) -> bool:
        if self.digest is None:
            self.digest, self.first = digest, what
        elif digest != self.digest:
            self.unreadable[part] = f"{what} ranked other test users than {self.first} (users_sha256 differs)"
            return False
        return True


def head_flags(split: pd.DataFrame, head_fraction: float) -> pd.Series:
    """Per test user, indexed by user id (sorted, as the evaluate stage ranks them): is the test item a
    head item, as the case study groups users (diffurec.report.groups)."""
    data = encode(split)
    head = head_items(popularity_scores(data.train, data.n_items).numpy(), head_fraction)
    return pd.Series(head[data.test], index=data.users).sort_index()


def read_head(split: Path, carried: set[str | None], head_fraction: float) -> pd.Series:
    """`head_flags` of the split table at `split`, refused unless it is the table every call that ran
    the dataset's runs carried (`carried`: their sha256 of it)."""
    if not split.is_file():
        raise DataError(f"{split}: not here; `python benchmarks/device_queue.py prepare` builds the split the runs "
                        "used")
    if carried - {sha256(split)}:
        raise DataError(f"{split}: not the split the runs used (its sha256 differs from their ledger calls'); "
                        "rebuild it with `python benchmarks/device_queue.py prepare`")
    return head_flags(read_split(split), head_fraction)


def grid_evidence(dataset: str, cells: Mapping[tuple[str, str], GridCell],
                  reruns: Mapping[tuple[str, str], dict[str, Any]], config: Config,
                  split: Path) -> evidence.DatasetEvidence:
    """What the ledger holds of `dataset`, as the verdict's evidence. `cells`: grid_report.grid_cells;
    `reruns`: grid_report.baseline_records; `config`: the grid recipe; `split`: `prepare`'s split
    table of the dataset. A part the ledger lacks is listed in `unreadable` with why."""
    seeds = complete_seeds(cells, dataset)
    users = _Users(_not_run())
    ranks, training = _ours(cells, dataset, seeds, users)
    baselines = _baselines(reruns, dataset, config.baselines, users)
    # The calls that ran what the evidence holds, and their digests of the dataset's split table.
    used = [cells[dataset, variant].runs[seed] for variant in ranks for seed in seeds]
    used += [reruns[dataset, name] for name in baselines]
    return evidence.DatasetEvidence(
        dataset=dataset,
        seeds=seeds,
        ranks=ranks,
        training=training,
        baseline_names=config.baselines,
        baselines=baselines,
        head=_head(split, {record["call"]["splits"].get(dataset) for record in used}, config, users),
        setup_differences=setup_differences(config, dataset),
        unreadable=users.unreadable,
    )


def _not_run() -> dict[tuple[str, ...], str]:
    """The parts the device queue never makes: every model's ensemble, every diffusion model's ablations."""
    parts = {(evidence.ENSEMBLE, variant): NOT_RUN for variant in VARIANTS}
    for variant in (variant for variant in VARIANTS if find_variant(variant).diffusion):
        parts.update({(evidence.ABLATION, variant, setting): NOT_RUN
                      for setting in (evidence.ONE_STEP, evidence.ZERO_XT)})
    return parts


def _ours(cells: Mapping[tuple[str, str], GridCell], dataset: str, seeds: tuple[int, ...],
          users: _Users) -> tuple[dict[str, np.ndarray], dict[str, evidence.Training]]:
    """Per model its test ranks [seeds, users] and training record over the complete `seeds`."""
    ranks, training = {}, {}
    for variant in VARIANTS:
        if not seeds:
            users.unreadable[evidence.RANKS, variant] = users.unreadable[evidence.TRAINING, variant] = NO_SEED
            continue
        digest, values = seed_ranks(cells[dataset, variant], seeds)
        if users.admit((evidence.RANKS, variant), digest, f"{VARIANT_NAMES[variant]}'s runs"):
            ranks[variant] = values
        runs = variant_runs(cells[dataset, variant], seeds, ())
        training[variant] = evidence.Training(runs.time_to_best_s, runs.best_epoch)
    return ranks, training


def _baselines(reruns: Mapping[tuple[str, str], dict[str, Any]], dataset: str, names: Sequence[str],
               users: _Users) -> dict[str, evidence.BaselineRanks]:
    """The re-run baselines `names` that the ledger holds settled on `dataset`, with their ranks."""
    found = {}
    for name in names:
        record = reruns.get((dataset, name))
        if record is None:
            why = f"no settled run of {name} on this dataset in the ledger yet"
            users.unreadable[evidence.BASELINE_RUN, name] = why
        elif users.admit((evidence.BASELINE_RUN, name), record["ranks"]["users_sha256"], name):
            converged = baseline_run(dataset, name, record).converged
            found[name] = evidence.BaselineRanks(unpack_ranks(record["ranks"]), converged)
    return found


def _head(split: Path, carried: set[str | None], config: Config, users: _Users) -> np.ndarray | None:
    """The test users' head flags from `split` (read_head), None with why when they cannot be had."""
    try:
        flags = read_head(split, carried, config.analysis.head_fraction)
    except DataError as error:
        users.unreadable[evidence.HEAD_ITEMS,] = str(error)
        return None
    aligned = users.admit((evidence.HEAD_ITEMS,), users_digest(flags.index), f"the split {split}")
    return flags.to_numpy() if aligned else None


def render(records: Sequence[dict[str, Any]], config: Config, paper: PaperTables, splits: Path) -> str:
    """The verdict section of docs/reproduction.md, for the datasets with a grid run or a re-run baseline
    in the ledger: the verdict stage's page under the section's heading, or, while no row is testable,
    why, one row per claim. `splits`: the folder of `prepare`'s split tables."""
    cells, reruns = grid_cells(records), baseline_records(records)
    covered = [dataset for dataset in DATASET_NAMES if any(key[0] == dataset for key in [*cells, *reruns])]
    lines = ["## Does the paper hold at its scale?", "", INTRO, ""]
    if not covered:
        return "\n".join([*lines, "No run of the grid or of its baselines is in the ledger yet: nothing to judge.", ""])
    found = [grid_evidence(dataset, cells, reruns, config, splits / f"{dataset}.parquet") for dataset in covered]
    verdict = judge(found, paper, config.verdict)
    if any(verdict.row_status(row) != NOT_TESTABLE for row in verdict.rows):
        # The stage's page without its title, its headings one level down, under this section's.
        _, *page = render_verdict(verdict, found, NOTES).splitlines()
        return "\n".join([*lines, demote(page).lstrip("\n"), ""])
    return "\n".join([
        *lines,
        f"Nothing can be tested yet: each of the verdict's {len(verdict.rows)} rows (one per claim, dataset and "
        f"model or baseline compared) is **{NOT_TESTABLE}**, for the reason below, given once per claim with the "
        "datasets it holds for.",
        "",
        untestable_summary(verdict),
    ])
