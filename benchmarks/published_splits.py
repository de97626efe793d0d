"""Our data against the published DiffuRec splits, user by user.

Builds our split of each dataset from a RecBole mirror with the pipeline's own download,
preprocess and split stages (in a temporary folder, nothing else written) and compares it with
the DiffuRec authors' `dataset.pkl`: users and items in both or only one, users whose train,
valid and test items are the same, whether our user order is the published sorted(users) order
(the order the official code batches evaluation users in), and the first differences.

    python benchmarks/published_splits.py
    python benchmarks/published_splits.py --dataset ml-1m --mirror ../shared/datasets/recbole-mirror

Cases: amazon-beauty at the default filters (5-core), ml-1m at the default 5-core and with
data.filters.ml-1m.min_item_inter = 1 (every item kept, as profiles/official.yaml sets).
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
import yaml
from published import compare_with_published, read_published

from diffurec.datasets import find_dataset
from diffurec.errors import DataError
from pipeline.app import main as run_cli
from pipeline.files.data_tables import read_split
from pipeline.stages.download import download
from pipeline.stages.preprocess import preprocess
from pipeline.stages.split import split as split_stage

# Dataset key -> the folder of its published split under the authors' datasets/data/.
PUBLISHED = {"amazon-beauty": "amazon_beauty", "ml-1m": "ml-1m"}
# Per dataset, the data.filters entries to compare: {} is the default filter of params.
CASES = {"amazon-beauty": [{}], "ml-1m": [{}, {"min_item_inter": 1}]}


def main(
    dataset: Annotated[list[str], typer.Option(help="Dataset to compare (repeatable).")] = list(CASES),
    mirror: Annotated[Path, typer.Option(help="RecBole mirror folder.")] = Path("../shared/datasets/recbole-mirror"),
    published: Annotated[Path, typer.Option(help="The authors' datasets/data folder (a dataset.pkl per dataset).")] = (
        Path("../shared/anchors/diffurec-official/datasets/data")
    ),
    examples: Annotated[int, typer.Option(help="Differences to print per case.")] = 5,
) -> None:
    """Build our split of each DATASET from MIRROR and compare it with the published one, user by user."""
    for key in dataset:
        find_dataset(key)
        if key not in CASES:
            raise DataError(f"no published split of {key!r}; choose from {list(CASES)}")
    if not mirror.is_dir():
        raise DataError(f"{mirror}: no such mirror folder; pass --mirror with RecBole's bucket layout")
    print(f"machine: {platform.machine()} CPU, {platform.system()}; python {platform.python_version()}")
    print(f"command: {' '.join(sys.argv)}")
    for key in dataset:
        pickle_path = published / PUBLISHED[key] / "dataset.pkl"
        theirs = read_published(pickle_path)
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            raw = folder / "raw"
            download(key, out=raw, params=_params(folder / "download.yaml", mirror.resolve(), key, {}))
            for index, override in enumerate(CASES[key]):
                started = time.perf_counter()
                params = _params(folder / f"case{index}.yaml", mirror.resolve(), key, override)
                preprocessed, split = folder / f"pre{index}.parquet", folder / f"split{index}.parquet"
                preprocess(key, raw=raw, out=preprocessed, params=params)
                split_stage(key, preprocessed=preprocessed, out=split)
                comparison = compare_with_published(read_split(split), theirs, examples)
                setting = ", ".join(f"data.filters.{key}.{name} = {value}" for name, value in override.items())
                print(f"\n{key} ({setting or 'default filters'}) vs {pickle_path} "
                      f"({time.perf_counter() - started:.1f} s to build and compare)")
                for line in comparison.lines():
                    print(f"  {line}")


def _params(path: Path, mirror: Path, dataset: str, override: dict[str, int]) -> Path:
    """A params file with the mirror and one dataset's filter override; the rest at its defaults."""
    data = {"mirror": str(mirror), "filters": {dataset: override} if override else {}}
    path.write_text(yaml.safe_dump({"datasets": [dataset], "data": data}))
    return path


if __name__ == "__main__":
    # pipeline's runner: a bad path or dataset is one `error:` line, not a traceback.
    cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    cli.command()(main)
    run_cli(cli)
