"""What a pipeline run cost: the machine and the measured seconds of every stage it ran there, as
Markdown (`reports/cost.md`) and as a table for `dvc plots` (`reports/cost.tsv`).

The one report whose numbers may differ between two machines: it describes the machine that ran
it, and it holds nothing but measured quantities.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from diffurec.report.markdown import markdown_table


@dataclass(frozen=True)
class StageCost:
    """One stage as it ran: its DVC name and what it cost."""

    stage: str  # DVC's name of the stage, e.g. "train-v1@ml-100k-0"
    command: list[str]  # the arguments of `python -m pipeline`
    seconds: float  # wall clock from the process's first import to the stage's end
    cpu_seconds: float  # user + system time of the process
    peak_memory_mib: float
    processor: str
    vector_level: str | None  # ATen's, None for a stage that never loaded torch
    threads: int | None  # torch's CPU threads, None likewise
    pins: bool  # whether the CPU pins were in force


def stage_kind(stage: str) -> str:
    """The stage's definition in dvc.yaml: its name before the matrix values ("evaluate@ml-100k-v1-0" -> "evaluate")."""
    return stage.split("@", 1)[0]


def in_run(stage: str, values: Collection[str]) -> bool:
    """Whether every matrix value in the stage's name is one of `values` (the datasets, variants,
    seeds and baselines the run lists). Values may hold dashes ("ml-100k", "SASRec-CE"), so the
    name's tail is matched as a sequence of whole values joined by dashes."""
    if "@" not in stage:
        return True
    tail = stage.split("@", 1)[1]

    def splits(rest: str) -> bool:
        return any(rest == value or (rest.startswith(value + "-") and splits(rest[len(value) + 1 :])) for value in values)

    return splits(tail)


def plot_table(costs: Sequence[StageCost]) -> str:
    """stage and seconds, one row per stage, for `dvc plots` (a horizontal bar per stage)."""
    lines = ["stage\tseconds"] + [f"{cost.stage}\t{cost.seconds:.1f}" for cost in costs]
    return "\n".join(lines) + "\n"


def render_cost(machine: Mapping[str, str], costs: Sequence[StageCost]) -> str:
    """The cost report: the machine, the seconds by kind of stage, then every stage."""
    total = sum(cost.seconds for cost in costs)
    runs: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for cost in costs:
        kind = stage_kind(cost.stage)
        runs[kind] = runs.get(kind, 0) + 1
        seconds[kind] = seconds.get(kind, 0.0) + cost.seconds
    by_kind = [
        [kind, str(runs[kind]), _seconds(seconds[kind]), _share(seconds[kind], total)]
        for kind in sorted(seconds, key=lambda kind: -seconds[kind])
    ]
    by_kind.append(["all stages", str(len(costs)), _seconds(total), _share(total, total)])
    every = [
        [cost.stage, _seconds(cost.seconds), _seconds(cost.cpu_seconds), f"{cost.peak_memory_mib:.0f}",
         cost.vector_level or "—", "—" if cost.threads is None else str(cost.threads)]
        for cost in costs
    ]
    sections = [
        "# What the run cost",
        "The machine this page was made on, and the seconds of every stage DVC ran on it, each measured by "
        "the stage's own process from its first import to its end. DVC's own work between stages (hashing, "
        "caching) is not in them, so their sum is below the wall-clock time of `dvc repro`. A stage that DVC "
        "restored from its run-cache did not run and is not listed, nor is the stage that writes this page. "
        "This page differs between machines and runs; in the other reports only measured seconds do (Table 2, "
        "the ablations' inference times, Table 5's training seconds, the verdict's C3 ratios with their place "
        "in its figure, and C3's status wherever it moves; README, \"The same bytes on every machine\").",
        "## Machine\n\n" + markdown_table(["", ""], "ll", [[name, value] for name, value in machine.items()]).rstrip(),
        "## Seconds by kind of stage\n\n" + markdown_table(["Stage", "Runs", "Seconds", "Share"], "lrrr", by_kind).rstrip(),
        "## Every stage\n\n"
        + markdown_table(["Stage", "Seconds", "CPU seconds", "Peak memory (MiB)", "Vector level", "Threads"], "lrrrlr", every)
        .rstrip(),
    ]
    notes = _mixed_notes(machine, costs)
    if notes:
        sections.append("Notes:\n\n" + "\n".join(f"- {note}" for note in notes))
    return "\n\n".join(sections) + "\n"


def _mixed_notes(machine: Mapping[str, str], costs: Sequence[StageCost]) -> list[str]:
    """Stages measured elsewhere or unpinned, which the header's machine does not describe."""
    notes = []
    elsewhere = [cost.stage for cost in costs if cost.processor != machine.get("processor")]
    if elsewhere:
        notes.append(f"Measured on another processor than the one above: {', '.join(elsewhere)}.")
    unpinned = [cost.stage for cost in costs if not cost.pins]
    if unpinned:
        notes.append(f"Run without the CPU pins, so their floats are this processor's own: {', '.join(unpinned)}.")
    return notes


def _seconds(value: float) -> str:
    return f"{value:.1f}"


def _share(part: float, total: float) -> str:
    return f"{100.0 * part / total:.1f}%" if total > 0 else "—"
