"""docs/reproduction.md: the paper's grid at its scale, rendered from the device ledger with the
pipeline's own table code (diffurec.report).

A ledger holds runs from many calls, on whatever card each lease lent. Per dataset, a seed counts
once every model of VARIANTS (the paper's three and the control without diffusion) has a finished
run of the grid's recipe for it (the latest such run wins); the tables use those complete seeds
only, so that the models pair up seed by seed as they do in the pipeline. The control has no
paper label and no paper row: the tables list it under its own name. There is no ensemble row:
Algorithm 3 needs every seed's model in one place, and the models stay on the device machine.

Table 5's re-run rows are the recipe's RecBole baselines from the ledger (the latest settled
record of each, with its test ranks); the paper's reported numbers fill the rows of methods not
re-run, as in the pipeline's table5 stage. Every re-run baseline is also listed on its own beside
the paper's printed row for its RecBole model, since a baseline's numbers stand without our seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

import numpy as np
from device.experiments import GRID_RECIPE, is_grid_baseline, is_grid_run
from device.ledger import unpack_ranks

from diffurec.datasets import DATASET_NAMES
from diffurec.metrics import ndcg
# Module by module, so that each name says which part of the table code it comes from: Table 5's
# (comparison), the tests' (significance) or the other tables' (tables).
from diffurec.report import comparison, markdown, significance, tables
from diffurec.variants import BASELINE, VARIANT_NAMES, VARIANTS


@dataclass(frozen=True)
class GridCell:
    """The finished grid runs of one (dataset, variant), one record per seed."""

    dataset: str
    variant: str
    runs: Mapping[int, dict[str, Any]]


def grid_cells(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str], GridCell]:
    """(dataset, variant) -> its finished grid runs by seed; a later record of a seed replaces an
    earlier one (records come oldest first)."""
    found: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for record in records:
        if record.get("status") == "done" and is_grid_run(record):
            spec = record["spec"]
            found.setdefault((spec["dataset"], spec["variant"]), {})[spec["seed"]] = record
    return {key: GridCell(*key, runs) for key, runs in found.items()}


def baseline_records(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(dataset, baseline name) -> its latest settled record with a test (records come oldest first)."""
    found = {}
    for record in records:
        if record.get("settled") and record.get("test") and is_grid_baseline(record):
            found[record["spec"]["dataset"], record["spec"]["variant"]] = record
    return found


def baseline_run(dataset: str, name: str, record: dict[str, Any]) -> comparison.BaselineRun:
    """A ledger record of a RecBole baseline as the table code's BaselineRun."""
    return comparison.BaselineRun(dataset, name, record["settings"], float(record["seconds_total"]),
                                  record["best_epoch"], record["epochs_finished"], record["stopped_early"])


def complete_seeds(cells: Mapping[tuple[str, str], GridCell], dataset: str) -> tuple[int, ...]:
    """Seeds every model, the control included, has finished on `dataset`, ascending."""
    per_variant = [set(cells[dataset, v].runs) if (dataset, v) in cells else set() for v in VARIANTS]
    return tuple(sorted(set.intersection(*per_variant)))


def variant_runs(cell: GridCell, seeds: Sequence[int], metrics: Sequence[str]) -> tables.VariantRuns:
    records = [cell.runs[seed] for seed in seeds]
    return tables.VariantRuns(
        seeds=tuple(seeds),
        metrics={m: tuple(float(r["test"][m]) for r in records) for m in metrics},
        ensemble=None,
        time_to_best_s=tuple(float(r["seconds_to_best"]) for r in records),
        total_time_s=tuple(float(r["seconds_total"]) for r in records),
        best_epoch=tuple(int(r["best_epoch"]) for r in records),
        devices=tuple(str(r["card"]) for r in records),
    )


def seed_ranks(cell: GridCell, seeds: Sequence[int]) -> tuple[str, np.ndarray]:
    """(digest of the ranked users, test ranks [seeds, users]); refused unless every seed ranked the
    same users in the same order."""
    digests = {cell.runs[seed]["ranks"]["users_sha256"] for seed in seeds}
    if len(digests) != 1:
        raise ValueError(f"{cell.dataset}/{cell.variant}: seeds {list(seeds)} ranked different users")
    return digests.pop(), np.stack([unpack_ranks(cell.runs[seed]["ranks"]) for seed in seeds])


def per_user_ndcg(cell: GridCell, seeds: Sequence[int]) -> tuple[str, np.ndarray]:
    """(digest of the ranked users, per-user NDCG@PER_USER_K averaged over `seeds`)."""
    digest, ranks = seed_ranks(cell, seeds)
    return digest, ndcg(ranks, significance.PER_USER_K).mean(axis=0)


def dataset_results(dataset: str, cells: Mapping[tuple[str, str], GridCell], seeds: Sequence[int],
                    metrics: Sequence[str]) -> tuple[dict, dict]:
    """Per model its runs over `seeds`, and (dataset, model, reference) -> the model's tests against
    the reference, for the pairs the ttest stage tests (`comparison_pairs`: against DiffuRec and
    against the control), from the ledger's metrics and per-user ranks."""
    runs = {(dataset, v): variant_runs(cells[dataset, v], seeds, metrics) for v in VARIANTS}
    users = {v: per_user_ndcg(cells[dataset, v], seeds) for v in VARIANTS}
    comparisons = {}
    for variant, reference in significance.comparison_pairs(VARIANTS):
        if users[variant][0] != users[reference][0]:
            raise ValueError(f"{dataset}: {variant} and {reference} ranked different users")
        comparisons[dataset, variant, reference] = significance.compare_variant(
            dataset, variant, runs[dataset, variant].metrics, runs[dataset, reference].metrics,
            users[variant][1], users[reference][1], reference=reference)
    return runs, comparisons


def render_dataset(dataset: str, cells: Mapping[tuple[str, str], GridCell], seeds: Sequence[int], ks: Sequence[int],
                   paper: tables.PaperTables, reruns: Mapping[str, dict[str, Any]]) -> list[str]:
    """Tables 3, 4, 5 and 2 of one dataset over its complete seeds, as the pipeline renders them;
    `reruns`: the dataset's RecBole baseline records by name."""
    metrics = tables.metric_names(ks)
    runs, comparisons = dataset_results(dataset, cells, seeds, metrics)
    checks = significance.check_paper_table4(paper.means, paper.printed_table4, significance.PAPER_HALF_UNIT, BASELINE)
    checks = [c for c in checks if c.dataset == dataset]
    ours = [comparison.Method(VARIANT_NAMES[v], comparison.our_source(v),
                              {m: fmean(runs[dataset, v].metrics[m]) for m in metrics}, False) for v in VARIANTS]
    baseline_runs = [baseline_run(dataset, name, r) for name, r in reruns.items()]
    rerun = [comparison.Method(run.name, "re-run", {m: float(reruns[run.name]["test"][m]) for m in metrics}, True,
                               run.converged) for run in baseline_runs]
    printed = {name: {m: values[m] for m in metrics if m in values} for name, values in paper.reported.get(dataset, {}).items()}
    methods = ours + rerun + comparison.reported_rows(printed, {run.settings["model"] for run in baseline_runs})
    table5 = comparison.render_table5(
        [comparison.DatasetTable(dataset, tuple(methods), _user_test(methods, cells, dataset, seeds, reruns))],
        metrics, baseline_runs, [f"Seeds: {', '.join(map(str, seeds))}.", _baselines_note(reruns)])
    args = ([dataset], list(VARIANTS))
    return [tables.render_table3(*args, metrics, runs, paper), tables.render_table4(*args, metrics, comparisons, checks),
            table5, tables.render_table2(*args, runs, paper)]


def _user_test(methods: Sequence[comparison.Method], cells: Mapping[tuple[str, str], GridCell], dataset: str,
               seeds: Sequence[int], reruns: Mapping[str, dict[str, Any]]) -> comparison.UserTest | None:
    """Table 5's per-user test of our best diffusion model against the strongest converged re-run
    baseline, from the ledger's ranks of both."""
    pair = comparison.user_test_pair(methods)
    if pair is None:
        return None
    best, rival = pair
    cell = cells[dataset, next(v for v in VARIANTS if VARIANT_NAMES[v] == best.name)]
    packed = reruns[rival.name]["ranks"]
    digest, ranks = seed_ranks(cell, seeds)
    if digest != packed["users_sha256"]:
        raise ValueError(f"{dataset}: {rival.name} ranked other users than {cell.variant}")
    return comparison.user_test(best.name, ranks, rival.name, unpack_ranks(packed))


def _baselines_note(reruns: Mapping[str, dict[str, Any]]) -> str:
    if not reruns:
        return "No RecBole baseline has been re-run at the paper's scale yet; the baselines are the paper's reported numbers."
    seeds = sorted({r["spec"]["seed"] for r in reruns.values()})
    cards = sorted({r["card"] for r in reruns.values()})
    note = (f"Re-run baselines: RecBole on the grid's split with the recipe's recbole settings, trained once (seed "
            f"{', '.join(map(str, seeds))}) on {', '.join(cards)}; Training (s) is that card's.")
    cut = [f"{name} (epoch {r['epochs_finished']})" for name, r in reruns.items() if r.get("cut")]
    if cut:
        note += f" Cut by a device call's time although it had the whole call, tested at its best epoch so far: {', '.join(cut)}."
    return note


def render_baselines(reruns: Mapping[tuple[str, str], dict[str, Any]], paper: tables.PaperTables,
                     metrics: Sequence[str]) -> list[str]:
    """Every re-run baseline beside the numbers the paper prints for its RecBole model, whether or
    not its dataset has a complete seed yet: these runs are measured on their own."""
    order = list(DATASET_NAMES)
    rows = []
    for (dataset, name), record in sorted(reruns.items(), key=lambda item: order.index(item[0][0])):
        printed = {m: f"{value:.4f}" for m, value in paper.reported.get(dataset, {}).get(record["settings"]["model"], {}).items()}
        run = baseline_run(dataset, name, record)
        rows.append([DATASET_NAMES[dataset], name, record["card"], str(run.best_epoch), str(run.last_epoch),
                     "yes" if run.converged else "no", f"{run.train_seconds:.0f}",
                     *(f"{float(record['test'][m]):.4f} / {printed.get(m, '—')}" for m in metrics)])
    if not rows:
        return []
    header = ["Dataset", "Baseline", "Card", "Best epoch", "Epochs run", "Converged", "Training (s)",
              *(f"{m}: re-run / paper" for m in metrics)]
    return ["## RecBole baselines re-run at the paper's scale", "",
            markdown.markdown_table(header, "lll" + "rrlr" + "r" * len(metrics), rows),
            "Each baseline ran once on the grid's split with the recipe's recbole settings (the ledger record's "
            "`settings`), on the card named (`cpu`: a CPU call; its ledger file gives the machine), and was tested at "
            "its best validation epoch. \"Paper\" is the number Table 5 prints for that RecBole model (SASRec-CE is "
            "SASRec trained with cross-entropy, so it faces the paper's SASRec row). Converged: RecBole's early "
            "stopping ended the run.", ""]


def render(records: Sequence[dict[str, Any]], ks: Sequence[int], paper: tables.PaperTables, link_base: str) -> str:
    """The whole document: seeds done per dataset, then each dataset's tables over its complete seeds."""
    cells = grid_cells(records)
    reruns = baseline_records(records)
    complete = {dataset: complete_seeds(cells, dataset) for dataset in DATASET_NAMES}
    lines = [
        "# The paper's grid at its scale",
        "",
        "Generated by `python benchmarks/device_queue.py reproduction` from the device ledger "
        f"([{link_base.rstrip('/')}/]({link_base})); every number below is a run of `{GRID_RECIPE}` recorded there, "
        "with its card, command and raw log. The earlier Beauty run of 2026-11-27, from before the ledger, is in "
        "[reproduction-2026-11-27.md](reproduction-2026-11-27.md).",
        "",
        "## Seeds done",
        "",
    ]
    rows = []
    for dataset in DATASET_NAMES:
        finished = {v: sorted(cells[dataset, v].runs) if (dataset, v) in cells else [] for v in VARIANTS}
        baselines = [name for where, name in reruns if where == dataset]
        if dataset not in paper.means and not any(finished.values()) and not baselines:
            continue
        seeds = complete[dataset]
        rows.append([DATASET_NAMES[dataset], str(len(seeds)), ", ".join(map(str, seeds)) or "—",
                     *("; ".join(map(str, finished[v])) or "—" for v in VARIANTS), ", ".join(baselines) or "—"])
    lines += [markdown.markdown_table(["Dataset", "Complete seeds", "Which", *(f"{VARIANT_NAMES[v]}: seeds run" for v in VARIANTS),
                              "RecBole baselines run"], "lrl" + "l" * len(VARIANTS) + "l", rows),
              "A seed is complete when every model (the paper's three and the control) has a finished run of it; "
              "only complete seeds enter the tables, so that the models pair up seed by seed. The RecBole baselines "
              "enter a dataset's Table 5 once it has a complete seed.", "",
              *render_baselines(reruns, paper, tables.metric_names(ks))]
    for dataset, seeds in complete.items():
        if not seeds:
            continue
        lines += [f"## {DATASET_NAMES[dataset]} (`{dataset}`), {len(seeds)} seed{'s' if len(seeds) > 1 else ''}", "",
                  "In the notes below, \"the seeds in params.yaml\" are this dataset's complete seeds, and a run's "
                  "train.json is its ledger record.", ""]
        baselines = {name: record for (where, name), record in reruns.items() if where == dataset}
        for document in render_dataset(dataset, cells, seeds, ks, paper, baselines):
            title, *body = document.strip("\n").splitlines()
            lines += [f"### {title.lstrip('# ')}", "", *demote(body, 2).lstrip("\n").splitlines(), ""]
    if not any(complete.values()):
        lines += ["No complete seed of the grid has come back from a device yet: `device_queue.py run` queues it "
                  "after the fidelity experiments (docs/benchmarks.md, \"The device queue\").", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def demote(lines: list[str], levels: int = 1) -> str:
    """A rendered report's lines with its headings `levels` down, under the document's own."""
    return "\n".join("#" * levels + line if line.startswith("#") else line for line in lines)
