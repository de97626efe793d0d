"""The tuned comparison beside the untuned default, claim by claim: docs/tuned-ml-100k.md.

    python benchmarks/tuned_comparison.py --untuned . --tuned ../tuned --out docs/tuned-ml-100k.md \\
        --command "dvc exp run -S tune.enabled=true" --machine "$(lscpu | grep 'Model name')"

UNTUNED and TUNED are two project folders after `dvc repro`, the second with tune.enabled true.
Everything here is their pipeline's own output: the budget and settings are TUNED's
reports/tuning.md, the statuses and effects its metrics.json verdict block (and UNTUNED's), and
Tables 3 and 5 its reports, copied under one heading each. Nothing is recomputed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from diffurec.report.markdown import DASH, markdown_table
from pipeline.files.atomic_write import write_text

SECTIONS = ("tuning.md", "table3_performance.md", "table5_comparison.md")


def _verdict(folder: Path) -> dict[str, dict[str, Any]]:
    return json.loads((folder / "metrics.json").read_text())["verdict"]


def _body(page: str) -> str:
    """A report without its title and provenance line, its headings one level down."""
    lines = page.splitlines()[1:]
    while lines and (not lines[0].strip() or lines[0].startswith("*This run")):
        lines.pop(0)
    return "\n".join("#" + line if line.startswith("#") else line for line in lines)


def _cell(key: str, row: dict[str, Any] | None) -> list[str]:
    if row is None:
        return [DASH, DASH, DASH]
    # C3's effect is a ratio of times; every other one a difference in points.
    shown = "{:.3f}×" if key.startswith("C3/") else "{:+.3f}"
    interval = DASH if row["ci_low"] is None else f"[{shown.format(row['ci_low'])}, {shown.format(row['ci_high'])}]"
    effect = DASH if row["effect"] is None else shown.format(row["effect"])
    return [effect, interval, f"**{row['status']}**"]


def moves(untuned: dict[str, dict[str, Any]], tuned: dict[str, dict[str, Any]]) -> str:
    """One sentence: how many rows changed status, and which."""
    moved = [f"`{key}` ({untuned[key]['status']} → {tuned[key]['status']})"
             for key in sorted(set(untuned) & set(tuned), key=_claim_order)
             if untuned[key]["status"] != tuned[key]["status"]]
    listed = ": " + "; ".join(moved) if moved else ""
    return f"Statuses that moved with tuning: {len(moved)} of {len(set(untuned) & set(tuned))} rows{listed}."


def claims_table(untuned: dict[str, dict[str, Any]], tuned: dict[str, dict[str, Any]]) -> str:
    """One row per verdict row (claim/dataset/comparison): each run's effect, interval and status."""
    rows = []
    for key in sorted(set(untuned) | set(tuned), key=_claim_order):
        before, after = untuned.get(key), tuned.get(key)
        moved = "" if before and after and before["status"] == after["status"] else "moved"
        rows.append([f"`{key}`", *_cell(key, before), *_cell(key, after), moved])
    header = ["Row", "Untuned effect", "Untuned interval", "Untuned status", "Tuned effect", "Tuned interval",
              "Tuned status", ""]
    return markdown_table(header, "lrrlrrll", rows)


def _claim_order(key: str) -> tuple[int, str, str]:
    claim, _, rest = key.partition("/")
    digits = "".join(ch for ch in claim if ch.isdigit())
    return int(digits or 0), claim, rest


def main(
    untuned: Annotated[Path, typer.Option(help="Project folder of the untuned run (tune.enabled false).")],
    tuned: Annotated[Path, typer.Option(help="Project folder of the tuned run (tune.enabled true).")],
    out: Annotated[Path, typer.Option(help="Markdown file to write.")],
    command: Annotated[str, typer.Option(help="The command that made the tuned run, for the record.")],
    machine: Annotated[str, typer.Option(help="The processor both runs were made on (lscpu).")],
) -> None:
    """Write the tuned comparison page from two finished runs."""
    reports = {name: (tuned / "reports" / name).read_text() for name in SECTIONS}
    provenance = next(line for line in reports["tuning.md"].splitlines() if line.startswith("*This run"))
    page = [
        "# The comparison with every model tuned (ml-100k)",
        "",
        f"Made by `{command}` on {machine}, 2 cores, beside the committed untuned default; written by "
        "`benchmarks/tuned_comparison.py` from the two runs' own reports and metrics, nothing recomputed. "
        f"The tuned run's own provenance line: {provenance}",
        "",
        "Effects are in the verdict's units (points of NDCG@10 for the accuracy claims, a time ratio for C3); "
        "each interval is at its claim's family level; `reports/verdict.md` gives the rules.",
        "",
        "## Each claim, untuned and tuned",
        "",
        moves(_verdict(untuned), _verdict(tuned)),
        "",
        claims_table(_verdict(untuned), _verdict(tuned)),
        "## The studies (reports/tuning.md of the tuned run)",
        "",
        _body(reports["tuning.md"]),
        "",
        "## Table 3 of the tuned run",
        "",
        _body(reports["table3_performance.md"]),
        "",
        "## Table 5 of the tuned run",
        "",
        _body(reports["table5_comparison.md"]),
    ]
    write_text(out, "\n".join(page).rstrip("\n") + "\n")


if __name__ == "__main__":
    typer.run(main)
