"""The device queue: the decisive fidelity experiments, then the paper's grid, one prioritized
queue per device call, with a ledger under docs/ledger/ that accumulates across calls, so a later
lease continues where an earlier one stopped.

The command line of the device lab, benchmarks/device/ (its __init__ lists the modules, one role
each; the queue itself, and how to add an experiment to it, is device/experiments.py):

1. Here (CPU), once: `python benchmarks/device_queue.py prepare --mirror ../shared/datasets/recbole-mirror`
   builds .device/split/ (Beauty, Toys, ML-1M), copies the official code into .device/anchors/
   and RecBole, which the device machine lacks, into .device/site/.
2. On the device machine, with `carry: [".device"]` (see docs/benchmarks.md for the full line):

       PYTHONPATH=.:.device/site python3 benchmarks/device_queue.py run --out $OUT --budget 480 2>&1 | tee $OUT/log.txt

   `python benchmarks/device_queue.py plan` lists the queue here (CPU) as the ledger leaves it:
   what a call would skip as settled, and what it would still run.
3. Here: `python benchmarks/device_queue.py ingest FILES_AT` copies the call's ledger file and
   its raw log into docs/ledger/ (never over an existing file), and
   `python benchmarks/device_queue.py report` renders every ledger file's fidelity experiments as
   Markdown tables (docs/fidelity.md), `reproduction` the grid and its verdict on the paper's
   claims as docs/reproduction.md.
"""

from __future__ import annotations

import os

# A device call computes on its GPU, outside the CPU pins (README): its CPU work keeps the
# machine's own kernels and threads. Set before anything imports pipeline or torch.
os.environ.setdefault("DIFFUREC_CPU_PINS", "off")

from pathlib import Path
from typing import Annotated

import typer
from device import ROOT, experiments, fidelity_tables, grid_report, grid_verdict
from device.call import run_call
from device.ledger import LEDGER, ingest, read_ledger
from device.lease import log
from device.planner import plan_state, spec
from device.prepare import ANCHOR_COPY, ANCHORS, DEVICE_DIR, SPLITS, prepare

from diffurec.errors import DataError
from pipeline.app import main
from pipeline.files.atomic_write import write_text
from pipeline.files.paper_tables import PAPER_TABLES, load_paper_tables

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help=__doc__.split("\n\n")[0])


@app.command("prepare")
def prepare_command(
    mirror: Annotated[Path, typer.Option(help="RecBole mirror folder (RecBole's bucket layout).")],
    dataset: Annotated[list[str], typer.Option(help="Dataset to prepare (repeatable).")] = [
        "amazon-beauty", "amazon-toys-games", "ml-1m"],
    dest: Annotated[Path, typer.Option(help="Folder that receives split/<dataset>.parquet.")] = DEVICE_DIR,
    anchors: Annotated[Path, typer.Option(help="The official DiffuRec code, copied to DEST/anchors/.")] = ANCHORS,
) -> None:
    """Build split tables with the pipeline's download, preprocess and split stages, and copy the
    official code with its Beauty pickle and RecBole (DEST/site/, for the baselines) beside them (CPU)."""
    prepare(mirror, dataset, dest, anchors)


@app.command("plan")
def plan_command(
    ledger: Annotated[Path, typer.Option(help="Ledger folder whose settled runs a call would skip.")] = LEDGER,
    experiment: Annotated[list[str], typer.Option(help="List only these experiments (repeatable), e.g. G-ml-1m.")] = [],
    set_: Annotated[list[str], typer.Option("-S", "--set", help="Override for every run of ours, as for `run`.")] = [],
) -> None:
    """List the queue in order as the ledger leaves it: per run, settled (skipped) or to run, with
    its predicted seconds where the ledger has timings (CPU; nothing is run)."""
    records = read_ledger(ledger) if ledger.is_dir() else []
    for entry in experiments.selected(experiment):
        for run in entry.runs:
            run_spec = spec(entry, run, run.dataset, set_)
            print(f"{entry.id}/{run.name}: {run.dataset}, {run.variant}, seed {run.seed}; "
                  f"{plan_state(run, run_spec, records, set_)}")


@app.command("run")
def run_command(
    out: Annotated[Path, typer.Option(help="Folder that receives this call's ledger file (the device's $OUT).")],
    splits: Annotated[Path, typer.Option(help="Folder of <dataset>.parquet split tables from `prepare`.")] = SPLITS,
    anchors: Annotated[Path, typer.Option(help="The copy of the official code `prepare` made.")] = ANCHOR_COPY,
    budget: Annotated[float, typer.Option(help="Seconds for the whole call.")] = 480.0,
    ledger: Annotated[Path, typer.Option(help="Ledger folder whose settled runs are skipped.")] = LEDGER,
    experiment: Annotated[list[str], typer.Option(help="Run only these experiments (repeatable), e.g. E4.")] = [],
    set_: Annotated[list[str], typer.Option("-S", "--set", help="Override for every run of ours, e.g. -S eval.device=cpu.")] = [],
    workdir: Annotated[Path | None, typer.Option(help="Where runs are written. Default: a temporary folder.")] = None,
) -> None:
    """Run the queue within BUDGET seconds, skipping what the ledger holds settled (GPU)."""
    run_call(experiments.selected(experiment), splits, anchors, budget, ledger, set_, out, workdir)


@app.command("ingest")
def ingest_command(
    files_at: Annotated[Path, typer.Argument(help="Folder the device call's $OUT came back to.")],
    ledger: Annotated[Path, typer.Option(help="Ledger folder.")] = LEDGER,
) -> None:
    """Copy a device call's ledger file, and its log.txt as <name>.log, into the ledger folder;
    nothing is copied when either exists there already."""
    ingest(files_at, ledger)


@app.command("report")
def report_command(
    ledger: Annotated[Path, typer.Option(help="Ledger folder.")] = LEDGER,
    out: Annotated[Path | None, typer.Option(help="Markdown file to write. Default: print it.")] = None,
    link_base: Annotated[str, typer.Option(help="Prefix of the links to ledger files (docs/fidelity.md: ledger/).")] = "ledger/",
) -> None:
    """Render every ledger file's runs as Markdown tables, one per experiment (CPU)."""
    records = read_ledger(ledger)
    if not records:
        raise DataError(f"{ledger}: no ledger records; ingest a device call first")
    text = fidelity_tables.render(records, experiments.QUEUE, link_base)
    if out is None:
        print(text)
    else:
        write_text(out, text)


@app.command("reproduction")
def reproduction_command(
    ledger: Annotated[Path, typer.Option(help="Ledger folder.")] = LEDGER,
    out: Annotated[Path, typer.Option(help="Markdown file to write.")] = ROOT / "docs" / "reproduction.md",
    link_base: Annotated[str, typer.Option(help="Prefix of the links to the ledger (from docs/: ledger/).")] = "ledger/",
    paper_tables: Annotated[Path, typer.Option(help="The paper's printed numbers.")] = ROOT / PAPER_TABLES,
    splits: Annotated[Path, typer.Option(help="`prepare`'s split tables: the test users' head items (claim C6).")]
    = SPLITS,
) -> None:
    """Render the paper's grid from every ledger file as docs/reproduction.md: seeds done per dataset,
    then Tables 2-5 and the t-tests by the pipeline's table code, then the verdict on the paper's
    claims by the verdict stage's code (CPU)."""
    records = read_ledger(ledger) if ledger.is_dir() else []
    config = experiments.profile_config(experiments.GRID_RECIPE, experiments.GRID_OVERRIDES)
    paper = load_paper_tables(paper_tables)
    tables = grid_report.render(records, config.eval.ks, paper, link_base)
    write_text(out, f"{tables}\n{grid_verdict.render(records, config, paper, splits)}")
    log(f"wrote {out}")


if __name__ == "__main__":
    main(app)
