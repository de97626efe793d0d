"""docs/reproduction.md: a GPU run of the paper's configuration (benchmarks/gpu_reproduction.py)
against the paper, and its speed against the official code's.

How far our Table 3 lies from the paper's is measured metric by metric in the paper's own
units. The paper prints mean ± std over seeds for its variants and, for DiffuRec, DiffuRec's published
numbers without a spread. A measured mean is "within the paper's std" when it differs from the
paper's mean by at most one of the paper's standard deviations; where the paper gives no std
only the difference and the relative difference are reported.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from diffurec.datasets import DATASET_NAMES
from diffurec.device import uses_bf16
from diffurec.report.tables import PaperTables, markdown_table
from diffurec.variants import PAPER_LABELS, PAPER_VARIANTS, VARIANT_NAMES, VARIANTS, find_variant

# The official DiffuRec code at its own defaults on one H100, seconds per training epoch
# (docs/benchmarks.md, "Measured numbers", says where they come from).
ANCHOR_EPOCH_S = {"amazon-beauty": 18.4, "amazon-toys-games": 12.8}
# Targets of the model issue for Beauty at the official configuration on an H100/H200.
TARGET_EPOCH_S = 1.0
TARGET_EVALUATION_S = 10.0


def model_label(variant: str) -> str:
    """A model as this document names it: the paper's label, or ours for a model not in the paper
    (the control)."""
    return PAPER_LABELS.get(variant, VARIANT_NAMES[variant])


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one (dataset, variant): our seeds against the paper's printed value."""

    metric: str
    ours: tuple[float, ...]  # one value per seed
    paper_mean: float
    paper_std: float | None

    @property
    def mean(self) -> float:
        return statistics.fmean(self.ours)

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.ours) if len(self.ours) > 1 else None

    @property
    def difference(self) -> float:
        return self.mean - self.paper_mean

    @property
    def relative(self) -> float:
        return self.difference / self.paper_mean

    @property
    def in_paper_stds(self) -> float | None:
        if not self.paper_std:
            return None
        return self.difference / self.paper_std

    @property
    def within_paper_std(self) -> bool | None:
        ratio = self.in_paper_stds
        return None if ratio is None else abs(ratio) <= 1.0


def compare(
    ours: Mapping[str, Sequence[float]], paper_mean: Sequence[float], paper_std: Sequence[float] | None,
    metrics: Sequence[str],
) -> list[MetricComparison]:
    """`ours`: metric -> one value per seed; the paper's values follow `metrics`' order."""
    stds = paper_std if paper_std is not None else [None] * len(metrics)
    return [
        MetricComparison(metric, tuple(ours[metric]), float(mean), None if std is None else float(std))
        for metric, mean, std in zip(metrics, paper_mean, stds, strict=True)
    ]


def render_comparison(rows: Mapping[str, Sequence[MetricComparison]]) -> str:
    """A Markdown table: per variant and metric, ours, the paper's, and the gap in both units."""
    body = []
    for variant, comparisons in rows.items():
        for c in comparisons:
            body.append([
                model_label(variant),
                c.metric,
                _mean_std(c.mean, c.std, len(c.ours)),
                _mean_std(c.paper_mean, c.paper_std, None),
                f"{c.difference:+.4f}",
                f"{c.relative:+.1%}",
                "—" if c.in_paper_stds is None else f"{c.in_paper_stds:+.1f}",
                {None: "—", True: "yes", False: "no"}[c.within_paper_std],
            ])
    header = ["Model", "Metric", "Ours", "Paper", "Difference", "Relative", "In paper stds", "Within paper std"]
    return markdown_table(header, "llrrrrrl", body)


def reading(variant: str, comparisons: Sequence[MetricComparison]) -> str:
    """One sentence that sums up a variant's comparison."""
    label = model_label(variant)
    below = sum(c.difference < 0 for c in comparisons)
    worst = max(comparisons, key=lambda c: abs(c.relative))
    gap = f"the largest gap is {worst.metric} ({worst.relative:+.1%})"
    if comparisons[0].paper_std is None:
        return (f"{label}: below the published value on {below} of {len(comparisons)} metrics; {gap} "
                f"(the paper prints no std for it).")
    within = sum(bool(c.within_paper_std) for c in comparisons)
    return (f"{label}: within one paper std on {within} of {len(comparisons)} metrics, below the paper's mean "
            f"on {below}; {gap}, {worst.in_paper_stds:+.1f} paper stds.")


def _mean_std(mean: float, std: float | None, n: int | None) -> str:
    if n is not None:
        seeds = f" ({n} seed{'s' if n != 1 else ''})"
        return f"{mean:.4f} ± {'n/a' if std is None else f'{std:.4f}'}{seeds}"
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"


def describe_machine(info: dict[str, Any]) -> str:
    where = (f"{info['gpu']} ({info['gpu_memory_gib']} GiB, driver {info.get('driver', '?')}, CUDA {info['cuda']}), "
             if "gpu" in info else "no GPU, ")
    return f"{where}{info['cpu_count']} CPU cores; torch {info['torch']}; Python {info['python']}"


def render_document(results: dict[str, Any], paper: PaperTables, reports: Sequence[str], log_name: str | None) -> str:
    """docs/reproduction.md from a run's results.json: provenance, speed against the official code,
    every run, Table 3 against the paper, then the pipeline's own `reports` (Markdown) of the run."""
    dataset = results["dataset"]
    runs = [run for run in results["runs"] if run["status"] == "done"]
    seeds = results["complete_seeds"] or sorted({run["seed"] for run in runs})
    lines = [
        f"# The paper's configuration, measured: {DATASET_NAMES.get(dataset, dataset)}",
        "",
        "Generated by `python benchmarks/gpu_reproduction.py report` from the device run's results.json"
        + (f" (raw log: [{log_name}]({log_name}))." if log_name else ".")
        + " What these numbers mean, and the GPU speed rows: [benchmarks.md](benchmarks.md#gpu).",
        "",
        "## Provenance",
        "",
        f"- Machine: {describe_machine(results['machine'])}.",
        f"- Command (started {results['started_utc']}): `{results['command']}`",
        f"- Data: `{results['split']['file']}` (sha256 `{results['split']['sha256'][:16]}…`), "
        f"{results['split']['users']:,} users, {results['split']['items']:,} items, "
        f"{results['split']['samples']:,} training samples per epoch.",
        f"- Configuration: `{results['profile']}`"
        + (f" with {', '.join(f'`{o}`' for o in results['overrides'])}" if results["overrides"] else "")
        + "; seeds run seed by seed within a budget of "
        f"{results['budget_s']:.0f} s (the whole run took {results['wall_s']:.0f} s).",
        _precision_line(results["precision"]),
        "",
    ]
    lines += _speed_section(results)
    lines += _runs_section(results)
    if dataset in paper.means and runs:
        lines += _paper_section(dataset, runs, seeds, paper)
    for report in reports:
        title, *body = report.strip("\n").splitlines()
        lines += [f"## Pipeline report: {title.lstrip('# ')}", "", *demote(body).lstrip("\n").splitlines(), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _precision_line(precision: dict[str, str]) -> str:
    return f"- Precision on {precision['device']}: {_precision(precision)}; the paper and the official code compute in float32."


def _precision(precision: dict[str, str]) -> str:
    def effective(setting: str) -> str:
        return "bf16 autocast" if uses_bf16(precision["device"], setting) else "float32"

    return (f"training in {effective(precision['train'])} (train.precision `{precision['train']}`), "
            f"evaluation in {effective(precision['eval'])} (eval.precision `{precision['eval']}`)")


def _speed_section(results: dict[str, Any]) -> list[str]:
    speed = results["speed"]
    lines = ["## Speed (the official code's configuration, baseline)", ""]
    source = speed.get("source")
    if source:
        log_link = f"; raw log: [{source['log']}]({source['log']})" if source["log"] else ""
        lines += [f"Measured by a separate device call: `{source['command']}` (started {source['started_utc']}, "
                  f"{describe_machine(source['machine'])}{log_link}).", ""]
    if speed["status"] != "done":
        measured = f" Training epochs that finished: {speed['epoch_s']} s." if speed.get("epoch_s") else ""
        return lines + [f"Not measured ({speed['status']}).{measured}", ""]
    epoch_s, evaluation_s = speed["epoch_s"][-1], speed["evaluation_s"]
    anchor = ANCHOR_EPOCH_S.get(results["dataset"])
    ratio = _against_anchor(epoch_s, anchor) if anchor else "no anchor for this dataset"
    precision = f" Precision on {speed['precision']['device']}: {_precision(speed['precision'])}." if "precision" in speed else ""
    return lines + [
        f"Overrides of the profile: {', '.join(f'`{o}`' for o in speed['overrides'])}; "
        f"epochs timed: {speed['epoch_s']} s; the last is quoted"
        + (" (the only one, so start-up is included)." if len(speed["epoch_s"]) == 1 else ", warm.")
        + precision,
        "",
        "| Measure | Ours | Against | Target | Met |",
        "| --- | ---: | --- | ---: | --- |",
        f"| Training epoch ({speed['samples']:,} samples) | {epoch_s:.2f} s ({speed['samples'] / epoch_s:,.0f} "
        f"samples/s) | {ratio} | ≤ {TARGET_EPOCH_S:.0f} s | {'yes' if epoch_s <= TARGET_EPOCH_S else 'no'} |",
        f"| Evaluation of all {speed['users']:,} users, {speed['steps']} reverse steps, full ranking | "
        f"{evaluation_s:.2f} s ({speed['users'] / evaluation_s:,.0f} users/s) | — | ≤ {TARGET_EVALUATION_S:.0f} s | "
        f"{'yes' if evaluation_s <= TARGET_EVALUATION_S else 'no'} |",
        "",
    ]


def _against_anchor(epoch_s: float, anchor: float) -> str:
    """Our epoch against the official code's on an H100, as a ratio that reads the right way round."""
    if epoch_s <= anchor:
        return f"{anchor / epoch_s:.1f}x faster than the official code's {anchor} s on an H100"
    return f"{epoch_s / anchor:.1f}x slower than the official code's {anchor} s on an H100"


def _runs_section(results: dict[str, Any]) -> list[str]:
    if not results["runs"]:
        why = f" ({results['stopped']})" if "stopped" in results else ""
        return ["## Runs (paper configuration)", "", f"None started: the budget ran out first{why}.", ""]
    lines = ["## Runs (paper configuration)", "",
             "| Model | Seed | Status | Best epoch | Time to best (s) | Training (s) | Test evaluation (s) | "
             "Valid NDCG@10 (best epoch) | Test HR@10 | Test NDCG@10 |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for run in results["runs"]:
        if run["status"] == "done":
            train_info, test = run["train"], run["test"]
            lines.append(f"| {model_label(run['variant'])} | {run['seed']} | done | {train_info['best_epoch']} of "
                         f"{train_info['epochs']} | {train_info['time_to_best_s']:.1f} | "
                         f"{train_info['total_time_s']:.1f} | {run['evaluate_s']:.1f} | "
                         f"{train_info['best_valid']['NDCG@10']:.4f} | {test['HR@10']:.4f} | {test['NDCG@10']:.4f} |")
        else:
            finished = run.get("epochs", [])
            lines.append(f"| {model_label(run['variant'])} | {run['seed']} | {run['status']} (budget) after "
                         f"{len(finished)} epoch{'s' if len(finished) != 1 else ''} | | | | | | | |")
    ensemble_info = results["ensemble"]
    lines += ["", f"Complete seeds (every model finished): {results['complete_seeds'] or 'none'}; ensemble "
              f"(Algorithm 3): {ensemble_info['status']}"
              + (f" in {ensemble_info['seconds']} s." if ensemble_info["status"] == "done" else ".")
              + (f" No further run was started: {results['stopped']}." if "stopped" in results else ""), ""]
    done = [run for run in results["runs"] if run["status"] == "done"]
    if done:
        valid = statistics.fmean(run["train"]["best_valid"]["NDCG@10"] for run in done)
        test = statistics.fmean(run["test"]["NDCG@10"] for run in done)
        at_end = sum(run["train"]["best_epoch"] >= run["train"]["epochs"] - 1 for run in done)
        lines += [f"Over these {len(done)} runs the best epoch's validation NDCG@10 averages {valid:.4f} and the test "
                  f"NDCG@10 {test:.4f} ({test / valid - 1:+.1%}). In {at_end} of them the best epoch is the last "
                  "or the one before it: validation was still improving when training stopped.", ""]
    # The control has no x_t, so no sensitivity to it: the sentence covers the diffusion models.
    diffusion = [run for run in done if find_variant(run["variant"]).diffusion]
    if diffusion and all("sensitivity" in run for run in diffusion):
        lines += [_sensitivity_sentence(diffusion), ""]
    return lines


def _sensitivity_sentence(runs: list[dict[str, Any]]) -> str:
    """Per variant, the mean relative change of x0_hat when x_t is redrawn, against the history's."""
    first = runs[0]["sensitivity"]
    by_variant = {variant: [run["sensitivity"] for run in runs if run["variant"] == variant] for variant in VARIANTS}
    parts = [f"{model_label(variant)} {statistics.fmean(s['x_t'] for s in measured):.1e} (history "
             f"{statistics.fmean(s['history'] for s in measured):.2f})" for variant, measured in by_variant.items() if measured]
    return (f"How much x0_hat depends on x_t (`benchmarks/sensitivity.py`, {first['users']:,} test users, t = {first['t']}): "
            "its mean relative change when x_t is redrawn is " + ", ".join(parts)
            + ", where \"history\" is its change when each user's history is another user's.")


def _paper_section(dataset: str, runs: list[dict[str, Any]], seeds: list[int], paper: PaperTables) -> list[str]:
    metrics = paper.metrics
    rows, sentences = {}, []
    # The paper prints Table 3 for its three models only.
    for variant in PAPER_VARIANTS:
        chosen = [run for run in runs if run["variant"] == variant and run["seed"] in seeds]
        if not chosen or variant not in paper.means[dataset]:
            continue
        ours = {metric: [run["test"][metric] for run in chosen] for metric in metrics}
        rows[variant] = compare(ours, paper.means[dataset][variant], paper.stds[dataset].get(variant), metrics)
        sentences.append(f"- {reading(variant, rows[variant])}")
    return [
        "## Table 3 against the paper",
        "",
        f"Ours: test metrics over seeds {seeds} (full ranking, target loses ties). Paper: its Table 3; for "
        "DiffuRec that is DiffuRec's own published result, printed without a std. \"In paper stds\": "
        "(ours - paper) / the paper's std.",
        "",
        render_comparison(rows).rstrip("\n"),
        "",
        *sentences,
        "",
    ]


def demote(lines: list[str], levels: int = 1) -> str:
    """A rendered report's lines with its headings `levels` down, under the document's own."""
    return "\n".join("#" * levels + line if line.startswith("#") else line for line in lines)
