"""The RQ3 case study (paper section 6.5): per-group metrics of every variant and baseline,
the seed ensemble (Algorithm 3) against a single seed, and its Markdown report.

Groups are those of `diffurec.report.groups`. "Seed mean" is what one seed achieves on average: each
seed's run is scored on the group and the scores are averaged over seeds. "Ensemble" is one
ranking from the seeds' averaged predictions. The Markdown shows one metric, a column per model,
so that a reader compares models along a row; every metric is in the TSV beside it. Numbers use
fixed decimals and rows follow the order of the inputs, so the same inputs render byte for byte
the same report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from diffurec.datasets import DATASET_NAMES
from diffurec.metrics import hit_rate, ndcg
from diffurec.report.groups import (
    LONG_TAIL,
    Grouping,
    group_metrics,
    head_items,
    length_boundaries,
    length_grouping,
    popularity_grouping,
)
from diffurec.report.figures import BarPanel, tsne_subject
from diffurec.report.popularity import popularity_scores
from diffurec.report.markdown import fraction, markdown_table, points
from diffurec.report.significance import bootstrap_interval
from diffurec.report.tables import metric_names
from diffurec.sequences import SequenceData
from diffurec.variants import VARIANT_NAMES

ALL_USERS = "all users"
SEED_MEAN = "seed mean"
ENSEMBLE = "ensemble"
SINGLE_RUN = "single run"
# The per-group figure's intervals: resamples of the percentile bootstrap and the seed of its
# generator, fixed so that the same ranks draw the same figure.
INTERVAL_RESAMPLES = 1000
INTERVAL_SEED = 0


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


def metrics_tsv(cases: Sequence[DatasetCase], ks: Sequence[int]) -> str:
    """Every metric of every (dataset, grouping, group, model, inference) as TSV, `grouped_table`'s
    rows one after another, fixed decimals; an empty group's metrics are blank."""
    frames = [
        grouped_table(case, grouping, ks).assign(dataset=case.groups.dataset, grouping=grouping.name)
        for case in cases
        for grouping in case.groups.groupings
    ]
    table = pd.concat(frames, ignore_index=True)
    columns = ["dataset", "grouping", "group", "model", "inference", "users", *metric_names(ks)]
    return table[columns].to_csv(sep="\t", index=False, float_format="%.6f", lineterminator="\n")


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


def bar_panels(case: DatasetCase, metric: str) -> dict[str, BarPanel]:
    """`metric` per group (rows) and model (columns: each variant's seed mean, each baseline's one
    run) with its 95% percentile bootstrap interval over the group's test users, one panel per
    grouping, for `figures.group_bars_figure`. For a variant a user's value is their mean over
    the seeds, so the bar is the seed mean and the interval covers the users' sampling only."""
    per_user = {VARIANT_NAMES[v]: _per_user(r.per_seed, metric) for v, r in case.variants.items()}
    per_user.update((name, _per_user(r, metric)) for name, r in case.baselines.items())
    panels = {}
    for grouping in case.groups.groupings:
        index = pd.Index(grouping.labels, name=grouping.name)
        # model -> [groups, 3]: each group's mean, low end and high end.
        cells = {
            model: np.array([_mean_interval(values[grouping.groups == g]) for g in range(len(grouping.labels))])
            for model, values in per_user.items()
        }
        mean, low, high = (pd.DataFrame({m: c[:, i] for m, c in cells.items()}, index=index) for i in range(3))
        panels[grouping.name] = BarPanel(mean, low, high)
    return panels


def groups_figure_title(metric: str, seeds: Sequence[int], baselines: bool) -> str:
    """The per-group figure's title: what a bar is for our models and, if any are shown, for the
    baselines, and what its interval is."""
    bars = f"our models: mean over seeds {', '.join(map(str, seeds))}"
    if baselines:
        bars += "; RecBole baselines: one run each"
    return (
        f"Per-group {metric} ({bars})\n"
        f"lines: 95% bootstrap interval over the group's test users ({INTERVAL_RESAMPLES} resamples)"
    )


def _per_user(ranks: np.ndarray, metric: str) -> np.ndarray:
    """Each user's `metric` ("HR@k" or "NDCG@k") from ranks [U], or [R, U] averaged over the R runs."""
    name, k = metric.split("@")
    return {"HR": hit_rate, "NDCG": ndcg}[name](np.atleast_2d(ranks), int(k)).mean(axis=0)


def _mean_interval(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high) of one group's per-user values; NaN for an empty group."""
    if values.size == 0:
        return math.nan, math.nan, math.nan
    low, high = bootstrap_interval(values, resamples=INTERVAL_RESAMPLES, seed=INTERVAL_SEED)
    return float(values.mean()), low, high


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
    metric = figure_metric(ks)
    parts = [
        "# Case study (RQ3): head vs long-tail items, sequence-length groups, seed ensemble\n",
        _method_notes(cases[0].groups, seeds, metric),
    ]
    for case in cases:
        parts.append(_dataset_section(case, ks, metric, seeds))
    parts.append("## Figures\n")
    parts.extend(f"![{caption}]({link})\n" for caption, link in figures.items())
    for (dataset, variant), link in tsne_figures.items():
        caption = f"t-SNE of the {tsne_subject(variant)}, {DATASET_NAMES[dataset]}, {VARIANT_NAMES[variant]}"
        parts.append(f"![{caption}]({link})\n")
    return "\n".join(parts)


def _method_notes(groups: DatasetGroups, seeds: Sequence[int], metric: str) -> str:
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
        "- Baselines: one RecBole run each (runs/baselines), scored on the same test users; shown in the seed-mean "
        "rows, as what one trained model achieves, and blank in the ensemble rows.",
        f"- Metrics: full ranking over all items, target loses ties (as in Table 3). The tables show {metric}, one "
        "column per model; every HR@k and NDCG@k of each group, model and inference is in case_study.tsv beside "
        "this report. Users: the group's test users. Empty group: —.",
    ]
    if len(seeds) == 1:
        lines.append("- One seed: the ensemble is that seed's run, so every ensemble gain below is 0 by construction.")
    return "\n".join(lines) + "\n"


def _dataset_section(case: DatasetCase, ks: Sequence[int], metric: str, seeds: Sequence[int]) -> str:
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
        sections.append(f"### {titles[grouping.name]}: {metric}\n")
        sections.append(_model_columns(grouped_table(case, grouping, ks), grouping, metric))
    sections.append(_ensemble_section(case, metric, ks, seeds))
    return "\n".join(sections)


def _model_columns(table: pd.DataFrame, grouping: Grouping, metric: str) -> str:
    """`grouped_table`'s `metric` with a column per model: per group a seed-mean row (with the
    baselines' one run) and an ensemble row, the group's users on its first row only."""
    models = list(dict.fromkeys(table["model"]))
    row_of = {SEED_MEAN: SEED_MEAN, SINGLE_RUN: SEED_MEAN, ENSEMBLE: ENSEMBLE}
    values = {(r["group"], row_of[r["inference"]], r["model"]): r[metric] for r in table.to_dict("records")}
    rows = []
    for group, users in zip(grouping.labels, grouping.sizes()):
        for inference in (SEED_MEAN, ENSEMBLE):
            # A baseline has no ensemble: its cell stays blank, unlike an empty group's "—".
            cells = [fraction(values[group, inference, m]) if (group, inference, m) in values else "" for m in models]
            rows.append([group, str(users) if inference == SEED_MEAN else "", inference, *cells])
    return markdown_table(["Group", "Users", "Inference", *models], "lrl" + "r" * len(models), rows)


def _ensemble_section(case: DatasetCase, metric: str, ks: Sequence[int], seeds: Sequence[int]) -> str:
    gains = ensemble_gains(case, metric, ks)
    better = int((gains.to_numpy() > 0).sum())
    worse = int((gains.to_numpy() < 0).sum())
    cells = int(gains.notna().to_numpy().sum())
    # The paper (section 6.5) says the ensemble helps very short and very long sequences and
    # low-frequency items: the first and last length groups and the long-tail group.
    claimed = [LONG_TAIL, case.groups.length.labels[0], case.groups.length.labels[-1]]
    claim = gains[claimed].to_numpy()
    summary = (
        f"Ensemble of {len(seeds)} seeds minus the seed mean, {metric} in percentage points: higher in {better} of "
        f"{cells} cells, lower in {worse}. In the groups where the paper says it helps (long-tail items, the "
        f"shortest and the longest sequences): higher in {int((claim > 0).sum())} of {int(np.isfinite(claim).sum())} "
        "cells."
    )
    users = {ALL_USERS: len(case.groups.popularity.groups)}
    users.update((label, size) for g in case.groups.groupings for label, size in zip(g.labels, g.sizes()))
    rows = [[group, str(users[group]), *(points(value) for value in gains[group])] for group in gains.columns]
    table = markdown_table(["Group", "Users", *gains.index], "lr" + "r" * len(gains.index), rows)
    return f"### Ensemble (Algorithm 3) vs a single seed: {metric}, in pp\n\n{summary}\n\n{table}"


def _percentile(value: float) -> str:
    return f"{value:g}th"
