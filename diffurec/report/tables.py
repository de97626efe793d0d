"""Markdown renderings of the paper's Tables 2-4 and the flat metrics summary for `dvc metrics`.

Every line that concerns one variant is computed from that variant's runs alone (Table 4 rows
also from the reference model's), and Markdown cells are not padded to a column width, so changing one
variant's runs changes only that variant's lines, except the p (Holm) cells of Table 4b and 4c (an
adjustment over a family depends on every p in it) and a column that no row fills, which is left
out, when the change fills or empties it. Numbers use fixed decimals (`markdown`'s one way per kind
of number) and nothing depends on the clock, so the same inputs render byte for byte the same.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from diffurec.datasets import DATASET_NAMES
from diffurec.report.markdown import fraction, heading_anchor, markdown_table, points, without_empty_columns
from diffurec.report.significance import (
    PER_USER_K,
    PairedTTest,
    PaperRowCheck,
    PrintedTTest,
    SignedRankTest,
    VariantComparison,
    comparison_pairs,
    holm,
)
from diffurec.variants import BASELINE, CONTROL, PAPER_LABELS, VARIANT_NAMES

ALPHA = 0.05
# Table 4b is printed from this many seeds on: a t-test over 2 pairs has 1 degree of freedom, so
# its p swings with every run and backs no reading.
MIN_SEEDS_PER_METRIC = 3
PAPER_CHECK_HEADING = "4d. The paper's Table 4 recomputed from the paper's Table 3"


def metric_names(ks: Sequence[int]) -> tuple[str, ...]:
    """Metric keys in the paper's column order: every HR@k, then every NDCG@k."""
    return tuple(f"HR@{k}" for k in ks) + tuple(f"NDCG@{k}" for k in ks)


@dataclass(frozen=True)
class VariantRuns:
    """Measured results of one (dataset, variant): one entry per seed, in `seeds` order."""

    seeds: tuple[int, ...]
    metrics: Mapping[str, tuple[float, ...]]
    # None where no ensemble was made (members trained on different machines or calls).
    ensemble: Mapping[str, float] | None
    time_to_best_s: tuple[float, ...]
    total_time_s: tuple[float, ...]
    best_epoch: tuple[int, ...]
    devices: tuple[str, ...]
    # Per seed: the last epoch trained, whether early stopping ended the run, and train.patience
    # (None: not recorded). None as a whole: not known for these runs.
    last_epoch: tuple[int, ...] | None = None
    stopped_early: tuple[bool, ...] | None = None
    patience: tuple[int | None, ...] | None = None

    def still_improving(self) -> tuple[int, ...] | None:
        """Seeds whose run used all its epochs and was at its best in the last: more epochs might
        have found a better one. None when the last epochs are not known."""
        if self.last_epoch is None or self.stopped_early is None:
            return None
        return tuple(
            seed
            for seed, best, last, stopped in zip(self.seeds, self.best_epoch, self.last_epoch, self.stopped_early)
            if best == last and not stopped
        )


@dataclass(frozen=True)
class PaperTables:
    """The numbers printed in the paper (reference/paper_tables.yaml); variant keys as in Table 3."""

    metrics: tuple[str, ...]
    convergence_s: Mapping[str, Mapping[str, float]]  # variant -> dataset -> seconds
    means: Mapping[str, Mapping[str, tuple[float, ...]]]  # dataset -> variant -> per metric
    stds: Mapping[str, Mapping[str, tuple[float, ...]]]
    printed_table4: Mapping[str, Mapping[str, PrintedTTest]]  # dataset -> label as printed -> row
    # Table 5's other methods, as printed: dataset -> method -> metric -> value.
    reported: Mapping[str, Mapping[str, Mapping[str, float]]]


def render_table2(
    datasets: Sequence[str], variants: Sequence[str], runs: Mapping[tuple[str, str], VariantRuns], paper: PaperTables
) -> str:
    """Table 2: time to convergence (the best validation epoch) per dataset and variant, with each
    seed's best and last epoch and the seeds still improving when training ended."""
    seeds = _seed_count(runs)
    rows = []
    for dataset in datasets:
        for variant in variants:
            run = runs[dataset, variant]
            paper_s = paper.convergence_s.get(variant, {}).get(dataset)
            rows.append(
                [
                    DATASET_NAMES[dataset],
                    VARIANT_NAMES[variant],
                    _epochs(run.best_epoch),
                    _epochs(run.last_epoch),
                    _still_improving(run),
                    mean_std(run.time_to_best_s, _seconds),
                    _seconds(statistics.fmean(run.total_time_s)),
                    ", ".join(sorted(set(run.devices))),
                    "—" if paper_s is None else _seconds(paper_s),
                ]
            )
    header = [
        "Dataset",
        "Model",
        "Best epoch, per seed",
        "Last epoch, per seed",
        "Still improving (seeds)",
        f"Time to best epoch (s), mean ± std over {seeds}",
        "Total training (s), mean",
        "Device",
        "Paper (s)",
    ]
    notes = [
        "Best epoch, Last epoch: the epoch with the best validation score and the last epoch trained, one per "
        "seed in the order of `seeds` in params.yaml; the last epoch is below train.epochs when early stopping "
        "ended the run.",
        "Still improving: the seeds whose run trained all train.epochs epochs, early stopping never ending it, and "
        "was at its best in its last epoch: it had not converged, so more epochs might have found a better one and "
        "its time to best epoch is a lower bound of its time to convergence. 'none': no such seed; '—': not "
        "recorded.",
        _patience_note(runs.values()),
        "Time to best epoch: wall-clock training time until the epoch with the best validation score "
        "(`time_to_best_s` of each run's train.json), i.e. time to convergence; the per-epoch "
        "validation that picks that epoch is included.",
    ]
    header, align, rows = without_empty_columns(header, "lllllrrlr", rows)
    if "Paper (s)" in header:
        notes.append(
            "Paper (s): the paper's Table 2, measured on the authors' hardware with the paper's configuration; "
            "compare ratios between variants, not absolute seconds. '—': a model or dataset the paper does not time."
        )
    else:
        notes.append("No Paper (s) column: the paper times none of these models on these datasets.")
    notes.extend(_single_seed_notes(seeds))
    return _document("Table 2: convergence training time in seconds", [markdown_table(header, align, rows)], notes)


def _epochs(values: Sequence[int] | None) -> str:
    return "—" if values is None else ", ".join(map(str, values))


def _still_improving(run: VariantRuns) -> str:
    seeds = run.still_improving()
    if seeds is None:
        return "—"
    if not seeds:
        return "none"
    # "seed 0", not "0", which would read as a count.
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def _patience_note(runs: Iterable[VariantRuns]) -> str:
    """The early-stopping patience the runs trained with, as their train.json records it."""
    values = {p for run in runs for p in (run.patience or (None,))}
    known = ", ".join("0 (no early stopping)" if p == 0 else str(p) for p in sorted(v for v in values if v is not None))
    if None in values:
        unknown = "not recorded (train.json written before it was)"
        known = f"{known}; for other runs {unknown}" if known else unknown
    return (
        "Patience: train.patience, the validations in a row without a better validation score after which "
        f"training stops; these runs: {known}."
    )


def render_table3(
    datasets: Sequence[str],
    variants: Sequence[str],
    metrics: Sequence[str],
    runs: Mapping[tuple[str, str], VariantRuns],
    paper: PaperTables,
    ensemble: str = "runs",
) -> str:
    """Table 3: mean ± std over seeds, the seed ensemble and the paper's values, per dataset.
    `ensemble`: eval.ensemble, the reading of Algorithm 3 the ensemble rows were made with."""
    seeds = _seed_count(runs)
    if ensemble == "runs":
        ensemble_row = f"ensemble of {seeds} (Algorithm 3)"
        ensemble_note = "ensemble: Algorithm 3, one ranking from the predictions of every seed's model averaged (runs/ensemble)."
    else:
        ensemble_row = f"first seed's model, ensemble over {seeds} as inference seeds (Algorithm 3)"
        ensemble_note = ("ensemble: Algorithm 3 as printed (eval.ensemble = inference), the first seed's model run once per "
                         "seed in params.yaml and its predictions averaged (runs/ensemble).")
    if all(run.ensemble is None for run in runs.values()):
        ensemble_note = "no ensemble row: no ensemble of the seeds' models was made."
    sections = []
    for dataset in datasets:
        rows = []
        for variant in variants:
            run = runs[dataset, variant]
            name = VARIANT_NAMES[variant]
            rows.append([name, f"mean ± std over {seeds}", *(mean_std(run.metrics[m], fraction) for m in metrics)])
            if run.ensemble is not None:
                rows.append([name, ensemble_row, *(fraction(run.ensemble[m]) for m in metrics)])
            if variant in paper.means.get(dataset, {}):
                rows.append([name, "paper", *_paper_cells(paper, dataset, variant, metrics)])
        heading = f"## {DATASET_NAMES[dataset]} (`{dataset}`)\n\n"
        sections.append(heading + markdown_table(["Model", "Row", *metrics], "ll" + "r" * len(metrics), rows))
    notes = [
        "mean ± std: over the seeds in params.yaml (sample standard deviation, n - 1).",
        ensemble_note,
        "paper: the paper's Table 3 (its DiffuRec column is DiffuRec's own published numbers, "
        "printed without a standard deviation); only for the paper's models on the paper's datasets.",
    ]
    notes.extend(_single_seed_notes(seeds))
    return _document("Table 3: performance, mean and standard deviation over seeds", sections, notes)


def render_table4(
    datasets: Sequence[str],
    variants: Sequence[str],
    metrics: Sequence[str],
    comparisons: Mapping[object, VariantComparison],
    paper_checks: Sequence[PaperRowCheck],
) -> str:
    """Table 4: each model against DiffuRec and, where run, against the control (the pairs of
    `comparison_pairs`), the paper's test beside sound ones (the per-metric one from
    MIN_SEEDS_PER_METRIC seeds on), and the paper's check. Columns no row fills are left out.

    `comparisons`: only its values are read, each naming its dataset, model and reference.
    """
    pairs = comparison_pairs(variants)
    by_pair = {(c.dataset, c.variant, c.reference): c for c in comparisons.values()}
    tested = [by_pair[dataset, variant, reference] for dataset in datasets for variant, reference in pairs]
    # The per-metric tests pair the seeds: their n is the number of seeds the comparisons were made over.
    seeds = min((test.n for c in tested for test in c.per_metric.values()), default=0)
    sections = []
    if pairs:
        swapped = sorted({c.printed_label for c in paper_checks}) if _labels_swapped(paper_checks) else []
        sections.extend(_our_tests(datasets, pairs, metrics, by_pair, seeds, swapped))
    else:
        sections.append(
            "## Tests of our runs\n\n"
            f"Not computed: they compare each model with `{BASELINE}` or with `{CONTROL}`, so `variants` in "
            f"params.yaml must list one of these and at least one other model (it lists {', '.join(variants)}).\n"
        )
    sections.append(_paper_check_section(paper_checks))
    adjusted = "4b and 4c also give" if seeds >= MIN_SEEDS_PER_METRIC else "4c also gives"
    notes = [
        f"p < {ALPHA}: two-sided, on the unadjusted p; \"yes, better\" or \"yes, worse\": the compared model's "
        "metric is significantly above or below the reference's (the sign of t, in 4c of z). "
        f"{adjusted} p (Holm), adjusted over the tests of the same table (each says how many); 4a, kept to "
        "compare with the paper, is not adjusted.",
        "Reference: the model a row tests against; Mean diff. = model − reference in percentage points (pp: 100 × "
        "the difference of the metrics). DiffuRec (the paper's "
        f"baseline) is the reference of the paper's Table 4; the control ({VARIANT_NAMES[CONTROL]}: DiffuRec's "
        "network and training without the diffusion), when run, is one too, so that each model's gain over it "
        "is what the diffusion adds. DiffuRec vs the control is tested once.",
        "n/a: the test is undefined for these inputs; the last column says why.",
    ]
    return _document("Table 4: paired significance tests, each model vs its reference", sections, notes)


def metrics_summary(
    datasets: Sequence[str],
    variants: Sequence[str],
    metrics: Sequence[str],
    runs: Mapping[tuple[str, str], VariantRuns],
    comparisons: Mapping[object, VariantComparison],
) -> dict[str, float]:
    """Flat `dataset/variant/...` keys for `dvc metrics show/diff`, values to 6 significant digits.
    `comparisons`: only its values are read."""
    summary: dict[str, float] = {}
    for dataset in datasets:
        for variant in variants:
            run = runs[dataset, variant]
            key = f"{dataset}/{variant}"
            for metric in metrics:
                values = run.metrics[metric]
                summary[f"{key}/mean/{metric}"] = statistics.fmean(values)
                if len(values) > 1:
                    summary[f"{key}/std/{metric}"] = statistics.stdev(values)
                if run.ensemble is not None:
                    summary[f"{key}/ensemble/{metric}"] = run.ensemble[metric]
            summary[f"{key}/time_to_best_s"] = statistics.fmean(run.time_to_best_s)
            summary[f"{key}/best_epoch"] = statistics.fmean(run.best_epoch)
            if run.last_epoch is not None:
                summary[f"{key}/last_epoch"] = statistics.fmean(run.last_epoch)
    for c in comparisons.values():
        summary.update(_comparison_keys(c))
    return {key: float(f"{value:.6g}") for key, value in summary.items()}


def _comparison_keys(c: VariantComparison) -> dict[str, float]:
    """`dataset/variant/ttest_metric_means/...` against DiffuRec, as before there was a control;
    `dataset/variant/vs_REFERENCE/...` against any other reference."""
    key = f"{c.dataset}/{c.variant}" + ("" if c.reference == BASELINE else f"/vs_{c.reference}")
    return {
        **_test_keys(f"{key}/ttest_metric_means", "avg_diff_pp", c.metric_means.mean_diff,
                     "t", c.metric_means.t, c.metric_means.p),
        **_test_keys(f"{key}/wilcoxon_NDCG@{PER_USER_K}", "mean_diff_pp", c.per_user.mean_diff,
                     "z", c.per_user.z, c.per_user.p),
    }


def _our_tests(
    datasets: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    metrics: Sequence[str],
    comparisons: Mapping[tuple[str, str, str], VariantComparison],
    seeds: int,
    swapped: Sequence[str],
) -> list[str]:
    """Sections 4a-4c; 4b only from MIN_SEEDS_PER_METRIC seeds on, one sentence in its place below.
    `swapped`: the paper's Table 4 labels that 4d finds swapped (none: no such finding), which whoever
    sets 4a beside the paper's table must know."""
    paper_rows, metric_rows, user_rows = [], [], []
    metric_p, user_p = [], []
    for dataset in datasets:
        for variant, reference in pairs:
            c = comparisons[dataset, variant, reference]
            names = [DATASET_NAMES[dataset], VARIANT_NAMES[variant], VARIANT_NAMES[reference]]
            paper_rows.append([*names, *_ttest_cells(c.metric_means)])
            for metric in metrics:
                metric_rows.append([*names, metric, *_ttest_cells(c.per_metric[metric])])
                metric_p.append(c.per_metric[metric].p)
            user_rows.append([*names, *_signed_rank_cells(c.per_user)])
            user_p.append(c.per_user.p)
    # 4b and 4c: the adjusted p right after the p of each row (4b's 7th cell, 4c's 8th).
    user_rows = _holm_column(user_rows, user_p, 8)
    n = len(metrics)
    per_metric = seeds >= MIN_SEEDS_PER_METRIC
    names = ["Dataset", "Compared model", "Reference"]
    t_header = ["n", "t", "p", f"p < {ALPHA}", "Mean diff. (pp)", "Note"]
    holm_header = ["n", "t", "p", "p (Holm)", *t_header[3:]]
    swap_note = ""
    if swapped:
        labels = " and ".join(f'"{PAPER_LABELS[label]}"' for label in swapped)
        swap_note = (
            f"\nTo set these rows beside the paper's Table 4: the paper swaps its {labels} labels there "
            f"relative to its Table 3 ([4d](#{heading_anchor(PAPER_CHECK_HEADING)}) "
            "recomputes each printed row from Table 3).\n"
        )
    if per_metric:
        table_4b = (
            "One pair per seed (model and reference trained with the same seed), n = number of seeds. "
            f"{_holm_text(metric_p)}\n\n"
            + markdown_table(
                *without_empty_columns(
                    [*names, "Metric", *holm_header], "llllrrrrlrl", _holm_column(metric_rows, metric_p, 7)
                )
            )
        )
    else:
        table_4b = (
            f"Left out: with {_count(seeds, 'seed')}, a t-test across seeds has {_count(seeds - 1, 'degree')} of "
            f"freedom, too few for its p to back any reading; this table is shown from {MIN_SEEDS_PER_METRIC} seeds "
            "on (`seeds` in params.yaml).\n"
        )
    return [
        "## 4a. The paper's test: paired t-test over the metric means\n\n"
        f"As in the paper's Table 4: the {n} seed-averaged metrics ({', '.join(metrics)}) of a model paired with the "
        f"reference's on one dataset (n = {n}, df = {n - 1}); Mean diff. = the paper's Avg. Diff. The metrics are "
        "nested cut-offs of the same rankings, not independent samples, and the spread over seeds never enters, "
        f"so this p-value overstates the evidence; {'4b and 4c are the tests' if per_metric else '4c is the test'} "
        "to rely on.\n\n"
        + markdown_table(*without_empty_columns([*names, *t_header], "lllrrrlrl", paper_rows))
        + swap_note,
        f"## 4b. Per metric: paired t-test across seeds\n\n{table_4b}",
        f"## 4c. Per user: Wilcoxon signed-rank test on NDCG@{PER_USER_K}\n\n"
        f"One pair per test user: the user's NDCG@{PER_USER_K} averaged over seeds, model vs reference. Users "
        "whose two values tie are dropped (Wilcoxon); p from the normal approximation with tie correction. "
        f"z > 0: the compared model ranks the held-out item higher. {_holm_text(user_p)}\n\n"
        + markdown_table(
            *without_empty_columns(
                [*names, "Users", "Untied pairs", "W+", "z", *holm_header[2:]], "lllrrrrrrlrl", user_rows
            )
        ),
    ]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _holm_column(rows: list[list[str]], pvalues: Sequence[float | None], at: int) -> list[list[str]]:
    """`rows` with each row's Holm-adjusted p (over all of `pvalues`, one per row) inserted as cell `at`."""
    return [[*row[:at], p_value_text(adjusted), *row[at:]] for row, adjusted in zip(rows, holm(pvalues), strict=True)]


def _holm_text(pvalues: Sequence[float | None]) -> str:
    family = sum(p is not None for p in pvalues)
    return (
        f"p (Holm): p adjusted by Holm's step-down method over the family of this table's {family} "
        f"test{'' if family == 1 else 's'} with a "
        "p-value (all its rows), so that reading it at alpha keeps the chance of any false rejection among them "
        "below alpha."
    )


def _labels_swapped(checks: Sequence[PaperRowCheck]) -> bool:
    """Every printed Table 4 row is reproduced by exactly one Table 3 column, never its own label's."""
    return bool(checks) and all(len(c.matched) == 1 and c.matched != (c.printed_label,) for c in checks)


def _paper_check_section(checks: Sequence[PaperRowCheck]) -> str:
    variants = sorted({c.variant for check in checks for c in check.candidates})
    rows = []
    for check in checks:
        printed = check.printed
        cells = [
            DATASET_NAMES[check.dataset],
            PAPER_LABELS[check.printed_label],
            _t(printed.t),
            p_value_text(printed.p),
            # As printed (the paper's 4 decimals), since these cells are checked against the paper's text.
            f"{printed.avg_diff_pp:.4f}",
        ]
        by_variant = {c.variant: c for c in check.candidates}
        for variant in variants:
            r = by_variant[variant]
            t_range = f"t {_t(r.test.t)} ± {r.t_bound:.4f}"
            p_range = f"p {p_value_text(r.p_low)}–{p_value_text(r.p_high)}"
            cells.append(f"{t_range}, {p_range}, {points(r.test.mean_diff)} pp")
        cells.append(", ".join(PAPER_LABELS[v] for v in check.matched) or "none")
        rows.append(cells)
    header = [
        "Dataset",
        "Printed as",
        "Printed t",
        "Printed p",
        "Printed Avg. Diff. (pp)",
        *(f"Recomputed from Table 3's {PAPER_LABELS[v]}" for v in variants),
        "Reproduced by Table 3's",
    ]
    intro = (
        f"## {PAPER_CHECK_HEADING}\n\n"
        "The paper's test (as in 4a) applied to the paper's own Table 3 means, against each variant's column. "
        "Table 3 prints 4 decimals, so each mean may be off by 0.00005: ± is the first-order bound that "
        "rounding puts on t, the p range follows from it, and Avg. Diff. may be off by 0.01 pp. A printed row is "
        "reproduced when its t, p and Avg. Diff. all fall within these ranges.\n\n"
    )
    return intro + markdown_table(header, "llrrr" + "l" * (len(variants) + 1), rows) + "\n" + _swap_finding(checks)


def _swap_finding(checks: Sequence[PaperRowCheck]) -> str:
    as_labelled = [c for c in checks if c.matched == (c.printed_label,)]
    swapped = [c for c in checks if len(c.matched) == 1 and c.matched != (c.printed_label,)]
    if _labels_swapped(checks):
        return (
            f"Finding: all {len(checks)} printed rows are reproduced, each by exactly one Table 3 column, and always "
            "by the other variant's: Table 4's \"Modified V1\" and \"Modified V2\" labels are swapped relative "
            "to Table 3. With the labels swapped back, the paper's Table 4 is the paper's test applied to its "
            "Table 3.\n"
        )
    return (
        f"Finding: {len(as_labelled)} of {len(checks)} printed rows are reproduced by the column of the same label, "
        f"{len(swapped)} only by another column; the rest are ambiguous or not reproduced.\n"
    )


def _test_keys(prefix: str, diff_name: str, mean_diff: float, statistic_name: str,
               statistic: float | None, p: float | None) -> dict[str, float]:
    """One test's metrics.json keys: its mean difference in percentage points, then its statistic
    and p where the test is defined."""
    keys = {f"{prefix}/{diff_name}": 100.0 * mean_diff}
    if statistic is not None:
        keys[f"{prefix}/{statistic_name}"] = statistic
        keys[f"{prefix}/p"] = p
    return keys


def _ttest_cells(test: PairedTTest) -> list[str]:
    p = test.p
    significant = _significant(p, test.t)
    return [str(test.n), _t(test.t), p_value_text(p), significant, points(test.mean_diff), test.undefined or ""]


def _signed_rank_cells(test: SignedRankTest) -> list[str]:
    w_plus = "n/a" if test.w_plus is None else f"{test.w_plus:.1f}"
    return [
        str(test.n),
        str(test.nonzero),
        w_plus,
        _t(test.z),
        p_value_text(test.p),
        _significant(test.p, test.z),
        points(test.mean_diff),
        test.undefined or "",
    ]


def _paper_cells(paper: PaperTables, dataset: str, variant: str, metrics: Sequence[str]) -> list[str]:
    means = dict(zip(paper.metrics, paper.means[dataset][variant], strict=True))
    stds = paper.stds.get(dataset, {}).get(variant)
    stds = dict(zip(paper.metrics, stds, strict=True)) if stds is not None else {}
    cells = []
    for metric in metrics:
        if metric not in means:
            cells.append("—")
        elif metric in stds:
            cells.append(f"{fraction(means[metric])} ± {fraction(stds[metric])}")
        else:
            cells.append(fraction(means[metric]))
    return cells


def _document(title: str, sections: Sequence[str], notes: Sequence[str]) -> str:
    body = "\n".join(sections)
    return f"# {title}\n\n{body}\nNotes:\n\n" + "".join(f"- {note}\n" for note in notes)


def _single_seed_notes(seeds: str) -> list[str]:
    if seeds != "1 seed":
        return []
    return ["± n/a: `seeds` in params.yaml lists one seed, so there is no spread over seeds to report."]


def _seed_count(runs: Mapping[tuple[str, str], VariantRuns]) -> str:
    counts = {len(run.seeds) for run in runs.values()}
    if len(counts) != 1:
        raise ValueError(f"every (dataset, variant) must have the same seeds, got counts {sorted(counts)}")
    (count,) = counts
    return "1 seed" if count == 1 else f"{count} seeds"


def mean_std(values: Sequence[float], fmt) -> str:
    """"mean ± sample std" of `values`, each formatted by `fmt`; "± n/a" for a single value."""
    spread = "n/a" if len(values) < 2 else fmt(statistics.stdev(values))
    return f"{fmt(statistics.fmean(values))} ± {spread}"


def _seconds(value: float) -> str:
    return f"{value:.2f}"


def _t(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def p_value_text(value: float | None) -> str:
    """A p-value as the reports print it: 4 decimals, or 3 significant digits below 1e-4; n/a for None."""
    if value is None:
        return "n/a"
    return f"{value:.2e}" if value < 1e-4 else f"{value:.4f}"


def _significant(p: float | None, statistic: float | None) -> str:
    """Whether the test rejects at ALPHA and, if it does, which way: the sign of its statistic (t or z,
    positive when the compared model's metric is the higher)."""
    if p is None:
        return "n/a"
    if p >= ALPHA:
        return "no"
    return "yes, better" if statistic > 0 else "yes, worse"
