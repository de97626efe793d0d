"""The paper's Table 5: every method's HR/NDCG@K per dataset, best and second best marked.

Rows come from four sources, always labelled: our own runs of DiffuRec and its variants
("ours", mean over seeds), our control, DiffuRec without diffusion ("ours (control)"), baselines
re-run on our exact split ("re-run"), and numbers copied from the paper for methods nobody here
can run ("reported"). As in the paper, the best value of each column is bold and the second best
underlined, over every row that has a number; values are compared as printed (4 decimals), so
printed ties share a mark. The improvement rows are the best of our diffusion models over the
best converged baseline, relative, per column, and over the control: a re-run baseline that its
epoch budget stopped, not early stopping, is no fair yardstick and is left out. A relative change
over a base near zero is left out too (`markdown.relative_change`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from diffurec.datasets import DATASET_NAMES
from diffurec.metrics import ndcg
from diffurec.report.significance import PER_USER_K, PairedTTest, SignedRankTest, paired_ttest, signed_rank_test
from diffurec.report.markdown import (
    MIN_RELATIVE_BASE,
    fraction,
    markdown_table,
    percent,
    points,
    relative_change,
    without_empty_columns,
)
from diffurec.report.tables import p_value_text
from diffurec.variants import find_variant

# Values are compared as `markdown.fraction` prints them.
DECIMALS = 4
Source = Literal["ours", "ours (control)", "re-run", "reported"]
# The control's rows: neither one of "ours" (the diffusion models) nor a baseline.
CONTROL_SOURCE: Source = "ours (control)"
# The paper's own model in its Table 5: shown as reported, never counted as a baseline.
PAPER_MODEL = "DiffuRecSys"


def our_source(variant: str) -> Source:
    """The source of one of our runs' rows: the control is no diffusion model of "ours"."""
    return "ours" if find_variant(variant).diffusion else CONTROL_SOURCE


@dataclass(frozen=True)
class Method:
    """One row of one dataset's table. `values` maps metric -> value; a missing metric prints '—'."""

    name: str
    source: Source
    values: Mapping[str, float]
    # Baselines are what our variants are measured against: not DiffuRec itself in any form.
    baseline: bool
    # A baseline's training was ended by early stopping, so its epoch budget did not hold it back.
    # Reported rows keep True: their authors trained them, we cannot tell how.
    converged: bool = True


@dataclass(frozen=True)
class UserTest:
    """Per-user NDCG@k of our best variant (averaged over seeds) paired with the strongest converged re-run baseline."""

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
    """What one re-run baseline was trained with (RecBole's resolved settings), how long it took, and
    its best and last epoch (1-based) and whether early stopping ended it; None: not recorded."""

    dataset: str
    name: str
    settings: Mapping[str, Any]
    train_seconds: float
    best_epoch: int | None = None
    last_epoch: int | None = None
    stopped_early: bool | None = None

    @property
    def converged(self) -> bool:
        """Early stopping ended the training; not recorded counts as not converged."""
        return self.stopped_early is True


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
    """Percent gain of the best of our diffusion models over the best converged baseline from
    `sources`; None if either is absent or the baseline's value is near zero."""
    return _gain(methods, metric, compared_baselines(methods, sources))


def improvement_over_control(methods: Sequence[Method], metric: str) -> float | None:
    """Percent gain of the best of our diffusion models over our control; None if either is absent or
    the control's value is near zero."""
    return _gain(methods, metric, [m for m in methods if m.source == CONTROL_SOURCE])


def compared_baselines(methods: Sequence[Method], sources: Sequence[Source]) -> list[Method]:
    """The baselines from `sources` that an improvement is measured against: the converged ones."""
    return [m for m in methods if m.baseline and m.source in sources and m.converged]


def _gain(methods: Sequence[Method], metric: str, others: Sequence[Method]) -> float | None:
    ours = [m.values[metric] for m in methods if m.source == "ours" and metric in m.values]
    best_other = max((m.values[metric] for m in others if metric in m.values), default=None)
    if not ours or best_other is None:
        return None
    return relative_change(max(ours), best_other)


def strongest(methods: Sequence[Method], metric: str) -> Method | None:
    """The row with the highest `metric` (the first listed wins a tie); None if no row has it."""
    return max((m for m in methods if metric in m.values), key=lambda m: m.values[metric], default=None)


def reported_rows(reported: Mapping[str, Mapping[str, float]], rerun_models: Collection[str]) -> list[Method]:
    """Rows of the paper's printed numbers on one dataset (method -> metric -> value) for every
    method that no re-run baseline runs: a RecBole model re-run on our split replaces its row."""
    return [
        Method(method, "reported", values, method != PAPER_MODEL)
        for method, values in reported.items()
        if method not in rerun_models
    ]


def user_test_pair(methods: Sequence[Method]) -> tuple[Method, Method] | None:
    """(our best diffusion model, the strongest converged re-run baseline) by NDCG@PER_USER_K: the
    rows Table 5's per-user test pairs; None when either is missing."""
    metric = f"NDCG@{PER_USER_K}"
    best = strongest([m for m in methods if m.source == "ours"], metric)
    rival = strongest(compared_baselines(methods, ("re-run",)), metric)
    return None if best is None or rival is None else (best, rival)


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
        "Source: *ours* = this project's runs of DiffuRec and its variants, mean over seeds; *ours (control)* = "
        "this project's control, DiffuRec's network and training without the diffusion, mean over seeds (neither "
        "one of ours nor a baseline in the Improv. rows); *re-run* = RecBole on this project's exact split (same "
        "users, same validation and test items, full ranking, same tie rule); *reported* = copied from the "
        "paper's Table 5, not re-run (other preprocessing and training; compare with care).",
        "Improv.: (best of ours − best baseline) / best baseline, per column, over every baseline or (where the "
        "paper reports others) over the re-run ones only; baselines exclude every DiffuRec row and every re-run "
        "baseline that did not converge (Converged in the settings table: early stopping ended its training; "
        "one that used all its epochs, or whose file does not record it, is left out, since its number is what "
        "its epoch budget allowed, not what it can do). Reported baselines count as printed. Beside an Improv. "
        "row, *converged only*: some baselines were left out; *none converged*: all were, so there is no number. "
        f"'—' in an Improv. cell: nothing to compare with, or a base below {MIN_RELATIVE_BASE}, over which a "
        "relative change would mislead.",
    ]
    if any(m.source == CONTROL_SOURCE for table in tables for m in table.methods):
        legend.append(
            "Improv. over the control: (best of ours − the control) / the control, per column: what the diffusion "
            "adds to the same network and training."
        )
    legend.extend(notes)
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
    rows.append(_improvement_row("Improv. over best baseline", methods, metrics, ("re-run", "reported")))
    if any(m.baseline and m.source == "reported" for m in methods):
        rows.append(_improvement_row("Improv. over best re-run baseline", methods, metrics, ("re-run",)))
    if any(m.source == CONTROL_SOURCE for m in methods):
        gains = (percent(improvement_over_control(methods, m)) for m in metrics)
        rows.append(["Improv. over the control", "", *gains])
    heading = f"## {DATASET_NAMES.get(table.dataset, table.dataset)} (`{table.dataset}`)\n\n"
    body = markdown_table(["Method", "Source", *metrics], "ll" + "r" * len(metrics), rows)
    return heading + body + "\n" + _unconverged_text(methods) + _user_test_text(table)


def _improvement_row(
    label: str, methods: Sequence[Method], metrics: Sequence[str], sources: Sequence[Source]
) -> list[str]:
    """An Improv. row; its Source cell says when baselines were left out for not converging."""
    candidates = [m for m in methods if m.baseline and m.source in sources]
    counted = compared_baselines(methods, sources)
    if not counted and candidates:
        return [label, "none converged", *("—" for _ in metrics)]
    basis = "converged only" if len(counted) < len(candidates) else ""
    return [label, basis, *(percent(improvement(methods, m, sources)) for m in metrics)]


def _unconverged_text(methods: Sequence[Method]) -> str:
    names = [m.name for m in methods if m.baseline and m.source == "re-run" and not m.converged]
    if not names:
        return ""
    return (
        f"Not converged, so left out of the Improv. rows and the per-user test: {', '.join(names)} (see Converged "
        "in the settings table below).\n\n"
    )


def _settings_section(runs: Sequence[BaselineRun]) -> str:
    rows = [
        [
            DATASET_NAMES.get(run.dataset, run.dataset),
            run.name,
            *(_setting(run.settings, names) for names in SETTING_COLUMNS.values()),
            _optional(run.best_epoch),
            _optional(run.last_epoch),
            _optional(None if run.stopped_early is None else ("yes" if run.stopped_early else "no")),
            f"{run.train_seconds:.1f}",
        ]
        for run in runs
    ]
    header = ["Dataset", "Baseline", *SETTING_COLUMNS, "Best epoch", "Last epoch", "Converged", "Training (s)"]
    return (
        "## Re-run baselines: settings and training time\n\n"
        "As RecBole resolved them (each run's metrics.json has them all); '—': the model has no such setting. "
        "Best epoch: the epoch with the best validation NDCG@10, whose weights rank the test items; Last epoch: "
        "the last epoch trained; Converged: early stopping ended the training (yes), or the Max epochs did "
        "(no); '—' in these three: not recorded (metrics.json from before they were), counted as not converged. "
        "Training (s): wall-clock time of RecBole's fit, per-epoch validation included.\n\n"
        + markdown_table(*without_empty_columns(header, "llll" + "r" * (len(SETTING_COLUMNS) - 2) + "rrlr", rows))
    )


def _optional(value: object | None) -> str:
    return "—" if value is None else str(value)


def _setting(settings: Mapping[str, Any], names: Sequence[str]) -> str:
    return next((str(settings[name]) for name in names if name in settings), "—")


def _user_test_text(table: DatasetTable) -> str:
    test = table.user_test
    if test is None:
        reruns = [m for m in table.methods if m.source == "re-run"]
        if reruns and not compared_baselines(reruns, ("re-run",)):
            return "Per-user test: not computed, no re-run baseline converged.\n"
        return "Per-user test: not computed (it needs one of our variants and one converged re-run baseline).\n"
    t, w = test.ttest, test.signed_rank
    header = ["Test", "Users", "Mean diff. (pp)", "Statistic", "p", "Note"]
    rows = [
        ["paired t-test", str(t.n), points(t.mean_diff), _stat("t", t.t), p_value_text(t.p), t.undefined or ""],
        ["Wilcoxon signed-rank", str(w.n), points(w.mean_diff), _stat("z", w.z), p_value_text(w.p), w.undefined or ""],
    ]
    return (
        f"Per-user test, NDCG@{test.k}: {test.variant} (best of ours, mean {fraction(test.variant_mean)}, "
        f"per-user values averaged over seeds) vs {test.baseline} (strongest converged re-run baseline, mean "
        f"{fraction(test.baseline_mean)}), one pair per test user, two-sided.\n\n"
        + markdown_table(*without_empty_columns(header, "lrrrrl", rows))
    )


def _marked(value: float | None, mark: str) -> str:
    text = fraction(value)
    if value is None:
        return text
    return {"best": f"**{text}**", "second": f"<ins>{text}</ins>"}.get(mark, text)


def _stat(name: str, value: float | None) -> str:
    return "n/a" if value is None else f"{name} = {value:.3f}"
