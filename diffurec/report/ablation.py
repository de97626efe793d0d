"""The inference ablations' report: per dataset and variant, one row per setting (reverse steps K,
x_t = 0) with the test metrics and the inference seconds as mean ± std over seeds, and the seed
means as one table for `dvc plots` and the cost-quality figure.

Everything but the measured seconds is computed from the ranks, so it renders byte for byte the
same from the same runs; the seconds are the clock's.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from diffurec.datasets import DATASET_NAMES
from diffurec.report.tables import markdown_table, mean_std
from diffurec.variants import VARIANT_NAMES


@dataclass(frozen=True)
class SettingRun:
    """One inference setting of one (dataset, variant, seed) run, as the ablation stage measured it."""

    name: str
    # T: the trained model's number of diffusion steps.
    model_steps: int
    # The reverse process's steps, original indices 0..T-1, increasing: K of them.
    timesteps: tuple[int, ...]
    zero_xt: bool
    # Wall-clock seconds of ranking every test user under this setting.
    seconds: float
    metrics: Mapping[str, float]

    @property
    def steps(self) -> int:
        return len(self.timesteps)


# (dataset, variant) -> one tuple of settings per seed, in `seeds` order, each in the settings' order.
AblationRuns = Mapping[tuple[str, str], Sequence[Sequence[SettingRun]]]


# Fixed decimals: the same runs render the same bytes.
METRIC = "{:.4f}".format
SECONDS = "{:.2f}".format


def setting_label(setting: SettingRun) -> str:
    """The row label: "K of T steps", or "x_t = 0" with its number of steps."""
    steps = f"{setting.steps} of {setting.model_steps} steps"
    return f"x_t = 0 ({steps})" if setting.zero_xt else steps


def seed_means(runs: AblationRuns, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per (dataset, variant, setting), in the runs' order: setting name, steps, zero_xt,
    and the seed means of the seconds and of every metric (the plot data)."""
    rows = []
    for (dataset, variant), per_seed in runs.items():
        for settings in zip(*per_seed):
            first = settings[0]
            rows.append({
                "dataset": dataset,
                "variant": variant,
                "setting": first.name,
                "steps": first.steps,
                "zero_xt": first.zero_xt,
                "seconds": statistics.fmean(s.seconds for s in settings),
                **{metric: statistics.fmean(s.metrics[metric] for s in settings) for metric in metrics},
            })
    return pd.DataFrame(rows)


def plot_table(runs: AblationRuns, metrics: Sequence[str]) -> str:
    """`seed_means` as TSV for `dvc plots` (x = seconds, y = a metric), fixed decimals."""
    return seed_means(runs, metrics).to_csv(sep="\t", index=False, float_format="%.6f", lineterminator="\n")


def render_ablation(
    runs: AblationRuns, metrics: Sequence[str], seeds: Sequence[int], devices: Sequence[str], figure: str
) -> str:
    """reports/ablation.md: a table per (dataset, variant), then how the settings are run.
    `devices`: what the seconds were measured on; `figure`: the cost-quality figure's link."""
    seed_text = ", ".join(map(str, seeds))
    sections = []
    for (dataset, variant), per_seed in runs.items():
        rows = []
        for settings in zip(*per_seed):
            rows.append([
                setting_label(settings[0]),
                *(mean_std([s.metrics[m] for s in settings], METRIC) for m in metrics),
                mean_std([s.seconds for s in settings], SECONDS),
            ])
        table = markdown_table(["setting", *metrics, "seconds"], "l" + "r" * (len(metrics) + 1), rows)
        sections.append(f"## {DATASET_NAMES[dataset]}, {VARIANT_NAMES[variant]}\n\n{table}")
    first = next(iter(runs.values()))[0]
    kept = "; ".join(
        f"K = {s.steps}: t = {', '.join(map(str, s.timesteps))}"
        for s in first if not s.zero_xt and s.steps < s.model_steps
    )
    notes = [
        f"Trained models, no retraining: each cell is the mean ± std over seeds {seed_text} of the test "
        "set's full ranking, each seed's model run with its own seed as in the evaluate stage. With all "
        "T steps it is Algorithm 2 as the evaluate stage runs it, with the same draws: exactly its ranks.",
        "Fewer steps: the respaced schedule of Nichol & Dhariwal (2021, section 4). Of the T steps "
        "t = 0..T-1, K are kept: t_i = round(i (T - 1) / (K - 1)) for i = 0..K-1 (half up; both ends), "
        "or t = T-1 alone for K = 1. Each keeps its alpha_bar; the betas become "
        "beta'_i = 1 - alpha_bar_{t_i} / alpha_bar_{t_{i-1}}, eq. 8 and eq. 22 use those, and the "
        "approximator gets the original t_i's step embedding. "
        + (f"Steps kept: {kept}." if kept else ""),
        "x_t = 0: at every reverse step the approximator receives zeros instead of x_t, so only the step "
        "embedding d_t and the history condition it; x_T, lambda and the reverse noise are drawn as usual. "
        "The last step's posterior returns its own x0_hat, so the result is that step's prediction and "
        "its seconds those of the whole chain.",
        f"seconds: wall-clock time of ranking every test user (reverse process, scores, ranks), after "
        f"one untimed warm-up pass, measured on {', '.join(sorted(set(devices)))}: the only numbers "
        "here that differ between two runs of the same models. Figure: "
        f"[quality against inference cost]({figure}).",
    ]
    body = "\n".join(sections)
    return "# Inference ablations\n\n" + body + "\nNotes:\n\n" + "".join(f"- {note}\n" for note in notes)
