"""The RQ3 case study (paper section 6.5): per-group metrics of every variant and baseline,
the seed ensemble (Algorithm 3) against a single seed, and its Markdown report.

Groups are those of `diffurec.report.groups`. "Seed mean" is what one seed achieves on average: each
seed's run is scored on the group and the scores are averaged over seeds. "Ensemble" is one
ranking from the seeds' averaged predictions. Numbers use fixed decimals and rows follow the
order of the inputs, so the same inputs render byte for byte the same report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from diffurec.datasets import DATASET_NAMES
from diffurec.report.groups import (
    LONG_TAIL,
    Grouping,
    group_metrics,
    head_items,
    length_boundaries,
    length_grouping,
    popularity_grouping,
)
from diffurec.report.popularity import popularity_scores
from diffurec.report.markdown import markdown_table
from diffurec.report.tables import metric_names
from diffurec.sequences import SequenceData
from diffurec.variants import VARIANT_NAMES

ALL_USERS = "all users"
SEED_MEAN = "seed mean"
ENSEMBLE = "ensemble"
SINGLE_RUN = "single run"


@dataclass(frozen=True)
class DatasetGroups:
    """One dataset's head items and its two user groupings."""

    dataset: str
    n_items: int
    head_fraction: float
    head: np.ndarray  # bool [n_items + 1]
    head_interaction_share: float
    percentiles: tuple[float, ...]
    boundaries: np.ndarray
    popularity: Grouping
    length: Grouping

    @property
    def groupings(self) -> tuple[Grouping, Grouping]:
        return self.popularity, self.length


def dataset_groups(
    dataset: str, data: SequenceData, head_fraction: float, percentiles: Sequence[float]
) -> DatasetGroups:
    """Head items from the training lists; users grouped by test target and by full sequence length."""
    scores = popularity_scores(data.train, data.n_items).numpy()
    head = head_items(scores, head_fraction)
    counts = scores[1:]
    lengths = np.array([len(train) + 2 for train in data.train])
    boundaries = length_boundaries(lengths, percentiles)
    return DatasetGroups(
        dataset=dataset,
        n_items=data.n_items,
        head_fraction=head_fraction,
        head=head,
        head_interaction_share=float(counts[head[1:]].sum() / counts.sum()),
        percentiles=tuple(percentiles),
        boundaries=boundaries,
        popularity=popularity_grouping(data.test, head),
        length=length_grouping(lengths, boundaries),
    )


@dataclass(frozen=True)
class VariantRanks:
    """Test ranks of one variant, users in split order: every seed's run [R, U] and the ensemble [U]."""

    per_seed: np.ndarray
    ensemble: np.ndarray


@dataclass(frozen=True)
class DatasetCase:
    """Everything the report shows for one dataset; mappings keep the order of params.yaml."""

    groups: DatasetGroups
    variants: Mapping[str, VariantRanks]
    baselines: Mapping[str, np.ndarray]
    missing_baselines: tuple[str, ...]


def model_rows(case: DatasetCase) -> list[tuple[str, str, np.ndarray]]:
    """(model, inference, ranks) in report order: each variant's seed mean and ensemble, then the baselines."""
    rows = []
    for variant, ranks in case.variants.items():
        rows.append((VARIANT_NAMES[variant], SEED_MEAN, ranks.per_seed))
        rows.append((VARIANT_NAMES[variant], ENSEMBLE, ranks.ensemble))
    rows.extend((name, SINGLE_RUN, ranks) for name, ranks in case.baselines.items())
    return rows


def grouped_table(case: DatasetCase, grouping: Grouping, ks: Sequence[int]) -> pd.DataFrame:
    """One row per (group, model, inference), groups in order; columns users and the metrics."""
    frames = []
    for model, inference, ranks in model_rows(case):
        frame = group_metrics(ranks, grouping, ks)
        frames.append(frame.assign(model=model, inference=inference).reset_index(names="group"))
    table = pd.concat(frames, ignore_index=True)
    order = {label: i for i, label in enumerate(grouping.labels)}
    return table.sort_values("group", key=lambda column: column.map(order), kind="stable").reset_index(drop=True)


def ensemble_gains(case: DatasetCase, metric: str, ks: Sequence[int]) -> pd.DataFrame:
    """Ensemble minus seed mean of `metric`: one row per variant (display name), one column
    for all users and one per group of each grouping."""
    everyone = Grouping(ALL_USERS, (ALL_USERS,), np.zeros(len(case.groups.popularity.groups), dtype=np.int64))
    rows = {}
    for variant, ranks in case.variants.items():
        gains: dict[str, float] = {}
        for grouping in (everyone, *case.groups.groupings):
            ensemble = group_metrics(ranks.ensemble, grouping, ks)[metric]
            seed_mean = group_metrics(ranks.per_seed, grouping, ks)[metric]
            gains.update((ensemble - seed_mean).to_dict())
        rows[VARIANT_NAMES[variant]] = gains
    return pd.DataFrame.from_dict(rows, orient="index")


def bar_panels(case: DatasetCase, metric: str, ks: Sequence[int]) -> dict[str, pd.DataFrame]:
    """`metric` per group (rows) and model (columns: each variant's seed mean, each baseline),
    one frame per grouping, for `figures.group_bars_figure`."""
    panels = {}
    for grouping in case.groups.groupings:
        columns = {VARIANT_NAMES[v]: group_metrics(r.per_seed, grouping, ks)[metric] for v, r in case.variants.items()}
        columns.update((name, group_metrics(r, grouping, ks)[metric]) for name, r in case.baselines.items())
        panels[grouping.name] = pd.DataFrame(columns)
    return panels


def figure_metric(ks: Sequence[int]) -> str:
    """The figures show NDCG at the middle cut-off (NDCG@10 for the paper's 5, 10, 20)."""
    return f"NDCG@{ks[len(ks) // 2]}"


def render_case_study(
    cases: Sequence[DatasetCase],
    ks: Sequence[int],
    seeds: Sequence[int],
    figures: Mapping[str, str],
    tsne_figures: Mapping[tuple[str, str], str],
) -> str:
    """The Markdown report. `figures`: caption -> link of the figures over all datasets;
    `tsne_figures`: (dataset, variant) -> link, relative to the report."""
    metrics = metric_names(ks)
    gain_metric = figure_metric(ks)
    parts = [
        "# Case study (RQ3): head vs long-tail items, sequence-length groups, seed ensemble\n",
        _method_notes(cases[0].groups, seeds),
    ]
    for case in cases:
        parts.append(_dataset_section(case, ks, metrics, gain_metric, seeds))
    parts.append("## Figures\n")
    parts.extend(f"![{caption}]({link})\n" for caption, link in figures.items())
    for (dataset, variant), link in tsne_figures.items():
        caption = f"t-SNE of the reconstructed x0, {DATASET_NAMES[dataset]}, {VARIANT_NAMES[variant]}"
        parts.append(f"![{caption}]({link})\n")
    return "\n".join(parts)


def _method_notes(groups: DatasetGroups, seeds: Sequence[int]) -> str:
    """The rules, shared by every dataset (params.yaml's analysis section)."""
    head = f"{groups.head_fraction:.0%}"
    cuts = ", ".join(_percentile(p) for p in groups.percentiles)
    seed_list = ", ".join(str(seed) for seed in seeds)
    lines = [
        f"- Head items: the top {head} of items by number of training interactions (the split's train lists; "
        "equal counts ordered by first appearance); the rest are long-tail. A user counts in the group of their "
        "test item.",
        "- Sequence length: a user's interactions after filtering (train + valid + test). Users are split at the "
        f"{cuts} percentiles of the lengths (linear interpolation); a length equal to a boundary belongs to the "
        "lower group, so several users of one length are never split apart (a group between two equal "
        "boundaries stays empty).",
        f"- Seed mean: each of the seeds {seed_list} scored on the group, averaged. Ensemble: Algorithm 3, one "
        "ranking from the softmax distributions of those seeds' models averaged (runs/ensemble).",
        "- Baselines: one RecBole run each (runs/baselines), scored on the same test users.",
        "- Metrics: full ranking over all items, target loses ties (as in Table 3). Empty group: —.",
    ]
    if len(seeds) == 1:
        lines.append("- One seed: the ensemble is that seed's run, so every ensemble gain below is 0 by construction.")
    return "\n".join(lines) + "\n"


def _dataset_section(
    case: DatasetCase, ks: Sequence[int], metrics: Sequence[str], gain_metric: str, seeds: Sequence[int]
) -> str:
    groups = case.groups
    sizes = dict(zip(groups.popularity.labels, groups.popularity.sizes()))
    users = len(groups.popularity.groups)
    n_head = int(groups.head.sum())
    boundaries = ", ".join(
        f"{_percentile(p)}: {b:.1f}" for p, b in zip(groups.percentiles, groups.boundaries)
    )
    facts = [
        f"- {users} test users, {groups.n_items} items; {n_head} head items ({n_head / groups.n_items:.1%} of items) "
        f"hold {groups.head_interaction_share:.1%} of training interactions.",
        f"- Test items: head for {users - sizes[LONG_TAIL]} users ({1 - sizes[LONG_TAIL] / users:.1%}), "
        f"long-tail for {sizes[LONG_TAIL]}.",
        f"- Sequence-length boundaries (percentile: length): {boundaries}.",
    ]
    if case.missing_baselines:
        facts.append(
            f"- Not shown (no test ranks in runs/baselines): {', '.join(case.missing_baselines)}; "
            "run `dvc repro` to train them."
        )
    sections = [f"## {DATASET_NAMES[groups.dataset]} (`{groups.dataset}`)\n", "\n".join(facts) + "\n"]
    titles = {groups.popularity.name: "Head vs long-tail items", groups.length.name: "Sequence-length groups"}
    for grouping in groups.groupings:
        table = grouped_table(case, grouping, ks)
        rows = [
            [row["group"], row["model"], row["inference"], str(row["users"]), *(_metric(row[m]) for m in metrics)]
            for row in table.to_dict("records")
        ]
        sections.append(f"### {titles[grouping.name]}\n")
        header = ["Group", "Model", "Inference", "Users", *metrics]
        sections.append(markdown_table(header, "lllr" + "r" * len(metrics), rows))
    sections.append(_ensemble_section(case, gain_metric, ks, seeds))
    return "\n".join(sections)


def _ensemble_section(case: DatasetCase, metric: str, ks: Sequence[int], seeds: Sequence[int]) -> str:
    gains = ensemble_gains(case, metric, ks)
    rows = [[variant, *(_signed(value) for value in row)] for variant, row in zip(gains.index, gains.to_numpy())]
    better = int((gains.to_numpy() > 0).sum())
    worse = int((gains.to_numpy() < 0).sum())
    cells = int(gains.notna().to_numpy().sum())
    # The paper (section 6.5) says the ensemble helps very short and very long sequences and
    # low-frequency items: the first and last length groups and the long-tail group.
    claimed = [LONG_TAIL, case.groups.length.labels[0], case.groups.length.labels[-1]]
    claim = gains[claimed].to_numpy()
    summary = (
        f"Ensemble of {len(seeds)} seeds minus the seed mean, {metric}: higher in {better} of {cells} cells, "
        f"lower in {worse}. In the groups where the paper says it helps (long-tail items, the shortest and the "
        f"longest sequences): higher in {int((claim > 0).sum())} of {int(np.isfinite(claim).sum())} cells."
    )
    table = markdown_table(["Model", *gains.columns], "l" + "r" * len(gains.columns), rows)
    return f"### Ensemble (Algorithm 3) vs a single seed\n\n{summary}\n\n{table}"


def _metric(value: float) -> str:
    return "—" if np.isnan(value) else f"{value:.4f}"


def _signed(value: float) -> str:
    return "—" if np.isnan(value) else f"{value:+.4f}"


def _percentile(value: float) -> str:
    return f"{value:g}th"
