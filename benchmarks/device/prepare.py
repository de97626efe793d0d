"""What a device call carries (`.device/`, git-ignored, named in the call's `carry`), built here
on the CPU so that the lease spends no time on it: split tables made by the pipeline's own data
stages, the official DiffuRec code with its Beauty pickle, and RecBole, which the device machine
lacks, as a folder to put on PYTHONPATH."""

from __future__ import annotations

import contextlib
import importlib.metadata
import shutil
import tempfile
from pathlib import Path

import yaml
from device import ROOT
from device.lease import log, sha256

from diffurec.datasets import find_dataset
from diffurec.errors import DataError
from pipeline.stages.download import download
from pipeline.stages.preprocess import preprocess
from pipeline.stages.split import split as split_stage

DEVICE_DIR = Path(".device")
SPLITS = DEVICE_DIR / "split"
# The split tables are built with this profile's data settings.
PROFILE = ROOT / "profiles" / "paper.yaml"
# The official DiffuRec code (run, never copied into the project) and what of it a device call needs:
# its src/ and the published Beauty split it trains on (anchors README).
ANCHORS = ROOT.parent / "shared" / "anchors" / "diffurec-official"
ANCHOR_COPY = DEVICE_DIR / "anchors" / ANCHORS.name
ANCHOR_PARTS = ("LICENSE", "src", "datasets/data/amazon_beauty")
# What the device machine lacks to run the RecBole baselines (it has torch, numpy, pandas, scipy,
# pyyaml, tqdm, colorama, tensorboard and scikit-learn): RecBole itself and the two pure-Python
# packages its config and trainers import. Copied from this machine's install, the versions the
# tests run, into DEST/site/, which a device call puts on PYTHONPATH. RecBole imports thop, plotly
# and ray only for FLOP counts, hyper-parameter plots and its quick-start, none of which we use.
CARRIED_PACKAGES = ("recbole", "colorlog", "texttable")
# What the device tool carries at most, working tree and `carry` together.
CARRY_LIMIT = 64 * 2**20


def prepare(mirror: Path, datasets: list[str], dest: Path, anchors: Path) -> None:
    """Build DEST/split/<dataset>.parquet with the pipeline's download, preprocess and split stages,
    and copy the official code to DEST/anchors/ and RecBole to DEST/site/."""
    if not mirror.is_dir():
        raise DataError(f"{mirror}: no such mirror folder; pass --mirror with RecBole's bucket layout")
    if not (anchors / "src" / "main.py").is_file():
        raise DataError(f"{anchors}: not the official DiffuRec code (no src/main.py); pass --anchors")
    mirror, dest = mirror.resolve(), dest.resolve()
    for key in datasets:
        find_dataset(key)
        # The stages read params.yaml from, and write data/ into, the working directory.
        with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(Path(scratch)):
            profile = yaml.safe_load(PROFILE.read_text())
            profile["datasets"] = [key]
            profile["data"]["mirror"] = str(mirror)
            Path("params.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
            target = dest / "split" / f"{key}.parquet"
            download(key)
            preprocess(key)
            split_stage(key, out=target)
        log(f"{target}: {sha256(target)}")
    copied = copy_anchors(anchors, dest / "anchors" / anchors.name)
    site = copy_packages(CARRIED_PACKAGES, dest / "site")
    size = folder_bytes(dest)
    log(f"{copied}: official code and Beauty pickle; {site}: {', '.join(CARRIED_PACKAGES)}; "
        f"{dest}: {size / 2**20:.1f} MiB in all")
    if size >= CARRY_LIMIT:
        raise DataError(f"{dest}: {size / 2**20:.1f} MiB, over the {CARRY_LIMIT // 2**20} MiB a device call carries; "
                        "prepare fewer datasets (--dataset amazon-beauty)")


def copy_anchors(source: Path, target: Path) -> Path:
    """A writable copy of ANCHOR_PARTS of the official code at `target`, replacing an older copy.
    File by file, without permissions: the shared copy is read-only, and the official code writes
    its logs into src/log/."""
    if target.exists():
        shutil.rmtree(target)
    for part in ANCHOR_PARTS:
        origin = source / part
        files = [origin] if origin.is_file() else sorted(p for p in origin.rglob("*") if p.is_file())
        if not files:
            raise DataError(f"{origin}: missing from the official code; is {source} complete?")
        for file in files:
            relative = file.relative_to(source)
            if "__pycache__" in relative.parts or relative.parts[:2] == ("src", "log"):
                continue
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target / relative)
    return target


def copy_packages(names: tuple[str, ...], target: Path) -> Path:
    """The installed files of the distributions `names` (code and metadata, no bytecode, nothing
    installed outside site-packages) copied into `target`, replacing an older copy: a folder that
    works as an entry of PYTHONPATH on a machine that cannot pip-install them."""
    if target.exists():
        shutil.rmtree(target)
    for name in names:
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise DataError(f"{name} is not installed here; install the project with its 'pipeline' extra") from None
        for file in distribution.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue
            (target / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(distribution.locate_file(file), target / file)
    return target


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
