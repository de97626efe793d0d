"""The inference ablations' report: per dataset and variant, one row per setting (reverse steps K,
x_t = 0) with the test metrics and the inference seconds as mean ± std over seeds, the seed means
as one table for `dvc plots`, and each setting's per-seed difference from the full reverse process
for the figure.

The control (no diffusion) has no reverse process to ablate: its one setting, ONE_PASS, is the
way it is always evaluated, timed as the others, so that its row is the reference point of
quality against inference cost.

Everything but the measured seconds is computed from the ranks, so it renders byte for byte the
same from the same runs; the seconds are the clock's.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from diffurec.datasets import DATASET_NAMES
from diffurec.report.markdown import markdown_table
from diffurec.report.tables import mean_std
from diffurec.variants import CONTROL, VARIANT_NAMES, find_variant

# The control's one setting: the name of its results.json entry and ranks.parquet column.
ONE_PASS = "one_pass"
ONE_PASS_LABEL = "one pass (no diffusion)"


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

    @property
    def one_pass(self) -> bool:
        """The control's setting: no reverse process, so model_steps and steps are 0."""
        return self.name == ONE_PASS


# (dataset, variant) -> one tuple of settings per seed, in `seeds` order, each in the settings' order.
AblationRuns = Mapping[tuple[str, str], Sequence[Sequence[SettingRun]]]


# Fixed decimals: the same runs render the same bytes.
METRIC = "{:.4f}".format
SECONDS = "{:.2f}".format


def setting_names(variant: str, settings: Sequence[str]) -> list[str]:
    """The settings the ablation stage runs for `variant`: params' `ablation` (`settings`, their
    names) for a diffusion model, ONE_PASS alone for the control."""
    return list(settings) if find_variant(variant).diffusion else [ONE_PASS]


def setting_label(setting: SettingRun) -> str:
    """The row label: "K of T steps", "x_t = 0" with its number of steps, or the control's one pass."""
    if setting.one_pass:
        return ONE_PASS_LABEL
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


def setting_differences(
    runs: AblationRuns, full: Mapping[tuple[str, str], Sequence[float]], metric: str
) -> pd.DataFrame:
    """Each reverse-process setting's `metric` minus the full T-step process's of the same seed, in
    percentage points: one row per (dataset, variant, seed, setting), in the runs' order, with columns
    dataset, variant, setting (its label) and points.

    `full`: per (dataset, variant), the full process's `metric` per seed in the runs' seed order (the
    evaluate stage's: K = T ranks exactly as it, so that setting's difference is 0 by construction).
    The control has no reverse process to compare with: it has no rows.
    """
    rows = []
    for (dataset, variant), per_seed in runs.items():
        if not find_variant(variant).diffusion:
            continue
        for settings, reference in zip(per_seed, full[dataset, variant], strict=True):
            rows.extend(
                {"dataset": dataset, "variant": variant, "setting": setting_label(setting),
                 "points": 100.0 * (setting.metrics[metric] - reference)}
                for setting in settings
            )
    return pd.DataFrame(rows, columns=["dataset", "variant", "setting", "points"])


def differences_title(metric: str, seeds: Sequence[int]) -> str:
    """The differences figure's title: what is subtracted, and what the marks are over `seeds`."""
    seed_text = ", ".join(map(str, seeds))
    marks = (
        f"seed {seed_text} (one seed: no spread)" if len(seeds) == 1
        else f"filled dot and bar: mean over seeds {seed_text} ± 1 std of the per-seed differences; "
        "hollow dots: each seed"
    )
    return f"Inference ablations: {metric} minus the full reverse process's (all T steps), same model and seed\n{marks}"


def plot_table(runs: AblationRuns, metrics: Sequence[str]) -> str:
    """`seed_means` as TSV for `dvc plots` (x = seconds, y = a metric), fixed decimals."""
    return seed_means(runs, metrics).to_csv(sep="\t", index=False, float_format="%.6f", lineterminator="\n")


def render_ablation(
    runs: AblationRuns, metrics: Sequence[str], seeds: Sequence[int], devices: Sequence[str], figure: str
) -> str:
    """reports/ablation.md: a table per (dataset, variant), then how the settings are run.
    `devices`: what the seconds were measured on; `figure`: the differences figure's link."""
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
    # Each run's first seed stands for its seeds: they ran the same settings.
    firsts = [per_seed[0] for per_seed in runs.values()]
    diffusion = [settings for settings in firsts if not any(s.one_pass for s in settings)]
    control = len(diffusion) < len(firsts)
    notes = [
        f"Trained models, no retraining: each cell is the mean ± std over seeds {seed_text} of the test "
        "set's full ranking, each seed's model run with its own seed as in the evaluate stage. With all "
        "T steps it is Algorithm 2 as the evaluate stage runs it, with the same draws: exactly its ranks.",
        *(_diffusion_notes(diffusion[0]) if diffusion else []),
        *([_control_note()] if control else []),
        f"seconds: wall-clock time of ranking every test user (reverse process{' or one pass' if control else ''}, "
        f"scores, ranks), after one untimed warm-up pass, measured on {', '.join(sorted(set(devices)))}: the only "
        "numbers here that differ between two runs of the same models.",
        f"Figure: [each setting's difference from the full reverse process]({figure}), per diffusion model and "
        "seed, in percentage points (the full process: the evaluate stage's ranking, which K = T reproduces exactly).",
    ]
    body = "\n".join(sections)
    return "# Inference ablations\n\n" + body + "\nNotes:\n\n" + "".join(f"- {note}\n" for note in notes)


def _diffusion_notes(settings: Sequence[SettingRun]) -> list[str]:
    """How the reverse-process settings are run; `settings`: one diffusion run's (every run has the same)."""
    kept = "; ".join(
        f"K = {s.steps}: t = {', '.join(map(str, s.timesteps))}"
        for s in settings if not s.zero_xt and s.steps < s.model_steps
    )
    return [
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
    ]


def _control_note() -> str:
    return (
        f"{ONE_PASS_LABEL}: the control's row. {VARIANT_NAMES[CONTROL]} is DiffuRec's network and training "
        "without the diffusion (no x_t, no lambda, no reverse process), so it has nothing to shorten or zero; its "
        "one setting is how the evaluate stage ranks with it: one pass of the blocks over the history, scores = output "
        "· item embeddings, nothing drawn. It is the reference point of quality against inference cost: what "
        "the same network reaches without diffusion in one pass (0 steps in ablation.tsv; not in the figure, "
        "which compares each diffusion model with its own full reverse process); "
        "what a diffusion row gains over it is what its reverse steps buy."
    )
