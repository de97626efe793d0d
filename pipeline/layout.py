"""Where every stage reads and writes, relative to the project root; dvc.yaml mirrors these paths."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
RUNS = Path("runs")
REPORTS = Path("reports")
# Resume checkpoints live outside DVC's outputs: DVC deletes a stage's outputs before rerunning it.
RESUME = Path(".cache/resume")


def raw_dir(dataset: str) -> Path:
    return DATA / "raw" / dataset


def preprocessed_file(dataset: str) -> Path:
    return DATA / "preprocessed" / f"{dataset}.parquet"


def split_file(dataset: str) -> Path:
    return DATA / "split" / f"{dataset}.parquet"


def train_dir(dataset: str, variant: str, seed: int) -> Path:
    return RUNS / "train" / dataset / variant / f"seed{seed}"


def eval_dir(dataset: str, variant: str, seed: int) -> Path:
    return RUNS / "eval" / dataset / variant / f"seed{seed}"


def ensemble_dir(dataset: str, variant: str) -> Path:
    return RUNS / "ensemble" / dataset / variant


def resume_file(dataset: str, variant: str, seed: int) -> Path:
    return RESUME / f"{dataset}-{variant}-seed{seed}.pt"
