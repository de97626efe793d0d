"""The paper's Table 5: every method's HR/NDCG@K per dataset, best and second best marked.

Rows come from three sources, always labelled: our own runs of DiffuRec and its variants
("ours", mean over seeds), baselines re-run on our exact split ("re-run"), and numbers copied
from the paper for methods nobody here can run ("reported"). As in the paper, the best value of
each column is bold and the second best underlined, over every row that has a number; values
are compared as printed (4 decimals), so printed ties share a mark. The improvement row is the
best of our variants over the best baseline, relative, per column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from diffurec.datasets import DATASET_NAMES
from diffurec.metrics import ndcg
from diffurec.report.significance import PER_USER_K, PairedTTest, SignedRankTest, paired_ttest, signed_rank_test
from diffurec.report.tables import markdown_table

DECIMALS = 4
Source = Literal["ours", "re-run", "reported"]
# The paper's own model in its Table 5: shown as reported, never counted as a baseline.
PAPER_MODEL = "DiffuRecSys"


@dataclass(frozen=True)
class Method:
    """One row of one dataset's table. `values` maps metric -> value; a missing metric prints '—'."""

    name: str
    source: Source
    values: Mapping[str, float]
    # Baselines are what our variants are measured against: not DiffuRec itself in any form.
    baseline: bool


@dataclass(frozen=True)
class UserTest:
    """Per-user NDCG@k of our best variant (averaged over seeds) paired with the strongest re-run baseline."""

    variant: str
    baseline: str
    k: int
    variant_mean: float
    baseline_mean: float
    ttest: PairedTTest
    signed_rank: SignedRankTest


@dataclass(frozen=True)
class DatasetTable:
    dataset: str
    methods: tuple[Method, ...]
    user_test: UserTest | None


@dataclass(frozen=True)
class BaselineRun:
    """What one re-run baseline was trained with (RecBole's resolved settings) and how long it took."""

    dataset: str
    name: str
    settings: Mapping[str, Any]
    train_seconds: float


# Columns of the settings table: header -> RecBole setting names, the first one a model has is shown.
SETTING_COLUMNS = {
    "RecBole model": ("model",),
    "Loss": ("loss_type",),
    "Max epochs": ("epochs",),
    "Early stop": ("stopping_step",),
    "max_len": ("max_len",),
    "Hidden": ("hidden_size",),
    "Layers": ("n_layers", "num_layers"),
    "Batch": ("train_batch_size",),
    "lr": ("learning_rate",),
}


def column_marks(values: Sequence[float | None]) -> list[str]:
    """'best', 'second' or '' per value: the highest printed value, then the next lower one."""
    printed = [None if v is None else round(v, DECIMALS) for v in values]
    distinct = sorted({v for v in printed if v is not None}, reverse=True)
    marks = {value: mark for value, mark in zip(distinct, ("best", "second"))}
    return ["" if v is None else marks.get(v, "") for v in printed]


def improvement(methods: Sequence[Method], metric: str, sources: Sequence[Source] = ("re-run", "reported")) -> float | None:
    """Percent gain of the best of our variants over the best baseline from `sources`; None if either is absent."""
    ours = [m.values[metric] for m in methods if m.source == "ours" and metric in m.values]
    others = [m.values[metric] for m in methods if m.baseline and m.source in sources and metric in m.values]
    if not ours or not others or max(others) <= 0:
        return None
    return 100.0 * (max(ours) - max(others)) / max(others)


def strongest(methods: Sequence[Method], metric: str) -> Method | None:
    """The row with the highest `metric` (the first listed wins a tie); None if no row has it."""
    return max((m for m in methods if metric in m.values), key=lambda m: m.values[metric], default=None)


def user_test(variant: str, variant_ranks: np.ndarray, baseline: str, baseline_ranks: np.ndarray) -> UserTest:
    """Paired per-user test on NDCG@PER_USER_K.

    variant_ranks [seeds, users] and baseline_ranks [users]: ranks of each user's test item,
    users aligned. The variant's per-user NDCG is averaged over seeds first.
    """
    a = ndcg(np.asarray(variant_ranks), PER_USER_K).mean(axis=0)
    b = ndcg(np.asarray(baseline_ranks), PER_USER_K)
    return UserTest(
        variant=variant,
        baseline=baseline,
        k=PER_USER_K,
        variant_mean=float(a.mean()),
        baseline_mean=float(b.mean()),
        ttest=paired_ttest(a, b),
        signed_rank=signed_rank_test(a, b),
    )


def render_table5(
    tables: Sequence[DatasetTable], metrics: Sequence[str], runs: Sequence[BaselineRun], notes: Sequence[str]
) -> str:
    """Markdown: per dataset a table (rows = methods, columns = metrics) with improvements and the
    per-user test, then the settings and training time of every re-run baseline."""
    sections = [_dataset_section(table, metrics) for table in tables]
    sections.append(_settings_section(runs))
    legend = [
        "**bold**: best value of the column, <ins>underlined</ins>: second best (as printed, over every row with "
        "a number, as in the paper).",
        "Source: *ours* = this project's runs, mean over seeds; *re-run* = RecBole on this project's exact split "
        "(same users, same validation and test items, full ranking, same tie rule); *reported* = copied from the "
        "paper's Table 5, not re-run (other preprocessing and training; compare with care).",
        "Improv.: (best of ours − best baseline) / best baseline, per column, over every baseline or (where the "
        "paper reports others) over the re-run ones only; baselines exclude every DiffuRec row.",
        *notes,
    ]
    return (
        "# Table 5: overall comparison with the baselines\n\n"
        + "\n".join(sections)
        + "\nNotes:\n\n"
        + "".join(f"- {line}\n" for line in legend)
    )


def _dataset_section(table: DatasetTable, metrics: Sequence[str]) -> str:
    methods = table.methods
    columns = [column_marks([m.values.get(metric) for m in methods]) for metric in metrics]
    rows = []
    for i, method in enumerate(methods):
        cells = [_marked(method.values.get(metric), columns[j][i]) for j, metric in enumerate(metrics)]
        rows.append([method.name, method.source, *cells])
    rows.append(["Improv. over best baseline", "", *(_percent(improvement(methods, m)) for m in metrics)])
    if any(m.baseline and m.source == "reported" for m in methods):
        rows.append(
            ["Improv. over best re-run baseline", "", *(_percent(improvement(methods, m, ("re-run",))) for m in metrics)]
        )
    heading = f"## {DATASET_NAMES.get(table.dataset, table.dataset)} (`{table.dataset}`)\n\n"
    body = markdown_table(["Method", "Source", *metrics], "ll" + "r" * len(metrics), rows)
    return heading + body + "\n" + _user_test_text(table.user_test)


def _settings_section(runs: Sequence[BaselineRun]) -> str:
    rows = [
        [
            DATASET_NAMES.get(run.dataset, run.dataset),
            run.name,
            *(_setting(run.settings, names) for names in SETTING_COLUMNS.values()),
            f"{run.train_seconds:.1f}",
        ]
        for run in runs
    ]
    header = ["Dataset", "Baseline", *SETTING_COLUMNS, "Training (s)"]
    return (
        "## Re-run baselines: settings and training time\n\n"
        "As RecBole resolved them (each run's metrics.json has them all); '—': the model has no such setting. "
        "Training (s): wall-clock time of RecBole's fit, per-epoch validation included.\n\n"
        + markdown_table(header, "ll" + "l" * 2 + "r" * (len(SETTING_COLUMNS) - 2) + "r", rows)
    )


def _setting(settings: Mapping[str, Any], names: Sequence[str]) -> str:
    return next((str(settings[name]) for name in names if name in settings), "—")


def _user_test_text(test: UserTest | None) -> str:
    if test is None:
        return "Per-user test: not computed (it needs one of our variants and one re-run baseline).\n"
    t, w = test.ttest, test.signed_rank
    header = ["Test", "Users", "Mean diff.", "Statistic", "p", "Note"]
    rows = [
        ["paired t-test", str(t.n), _signed(t.mean_diff), _stat("t", t.t), _p(t.p), t.undefined or ""],
        ["Wilcoxon signed-rank", str(w.n), _signed(w.mean_diff), _stat("z", w.z), _p(w.p), w.undefined or ""],
    ]
    return (
        f"Per-user test, NDCG@{test.k}: {test.variant} (best of ours, mean {test.variant_mean:.{DECIMALS}f}, "
        f"per-user values averaged over seeds) vs {test.baseline} (strongest re-run baseline, mean "
        f"{test.baseline_mean:.{DECIMALS}f}), one pair per test user, two-sided.\n\n"
        + markdown_table(header, "lrrrrl", rows)
    )


def _marked(value: float | None, mark: str) -> str:
    if value is None:
        return "—"
    text = f"{value:.{DECIMALS}f}"
    return {"best": f"**{text}**", "second": f"<ins>{text}</ins>"}.get(mark, text)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}%"


def _signed(value: float) -> str:
    return f"{value:+.{DECIMALS}f}"


def _stat(name: str, value: float | None) -> str:
    return "n/a" if value is None else f"{name} = {value:.3f}"


def _p(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2e}" if value < 1e-4 else f"{value:.4f}"
