"""Where every stage reads and writes, relative to the project root; dvc.yaml mirrors these paths.

Run folders take an optional `runs` root (default `runs/`), so the report stages and tests can
read a copy of the runs kept elsewhere."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
RUNS = Path("runs")
REPORTS = Path("reports")
FIGURES = REPORTS / "figures"
# What `dvc metrics show/diff` reads (dvc.yaml): written by the verdict stage.
METRICS = Path("metrics.json")
# Resume checkpoints live outside DVC's outputs: DVC deletes a stage's outputs before rerunning it.
RESUME = Path(".cache/resume")
# Hyperparameter studies (stage `tune`): their outcome is committed with the code, so that a fresh
# clone trains the tuned comparison without searching again; a study in progress lives in a
# journal outside the outputs, as a training run's resume state does.
STUDIES = Path("studies")
STUDY_JOURNALS = Path(".cache/tune")


def raw_dir(dataset: str) -> Path:
    return DATA / "raw" / dataset


def preprocessed_file(dataset: str) -> Path:
    return DATA / "preprocessed" / f"{dataset}.parquet"


def split_file(dataset: str, data: Path = DATA) -> Path:
    return data / "split" / f"{dataset}.parquet"


def train_dir(dataset: str, variant: str, seed: int, runs: Path = RUNS) -> Path:
    return runs / "train" / dataset / variant / f"seed{seed}"


def eval_dir(dataset: str, variant: str, seed: int, runs: Path = RUNS) -> Path:
    return runs / "eval" / dataset / variant / f"seed{seed}"


def ablation_dir(dataset: str, variant: str, seed: int, runs: Path = RUNS) -> Path:
    """The inference ablations of one trained run (stage `ablation`)."""
    return runs / "ablation" / dataset / variant / f"seed{seed}"


def ensemble_dir(dataset: str, variant: str, runs: Path = RUNS) -> Path:
    return runs / "ensemble" / dataset / variant


def baseline_dir(dataset: str, model: str, runs: Path = RUNS) -> Path:
    """A RecBole baseline's run (params.yaml `baselines` name, e.g. SASRec-CE)."""
    return runs / "baselines" / dataset / model


def ttest_file(runs: Path = RUNS) -> Path:
    return runs / "ttest" / "results.json"


def tables_metrics_file(runs: Path = RUNS) -> Path:
    """The tables stage's flat summary; the verdict stage adds its block and writes METRICS."""
    return runs / "tables" / "metrics.json"


def tsne_table_file(dataset: str, variant: str) -> Path:
    return RUNS / "analysis" / dataset / variant / "tsne.csv"


def tsne_figure_file(dataset: str, variant: str) -> Path:
    """Written by the tsne stage, linked from the case study."""
    return FIGURES / f"tsne_{dataset}_{variant}.png"


def resume_file(dataset: str, variant: str, seed: int) -> Path:
    return RESUME / f"{dataset}-{variant}-seed{seed}.pt"


def study_dir(dataset: str, model: str) -> Path:
    """One study's outcome: best.yaml (the chosen setting) and trials.tsv (every trial)."""
    return STUDIES / dataset / model


def study_journal(dataset: str, model: str) -> Path:
    return STUDY_JOURNALS / f"{dataset}-{model}.journal"
