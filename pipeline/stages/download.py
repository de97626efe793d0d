"""Stage `download DATASET`: the dataset's `.inter` file and a record of where it came from.

Writes `<out-dir>/<dataset>/<dataset>.inter` and `source.json` (source, sha256 and size of the
downloaded archive, or of the bundled file for ml-100k). The folder appears complete or not at
all: everything is staged in a temporary sibling and renamed at the end.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
import zipfile
import zlib
from importlib import metadata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Annotated, BinaryIO

import typer
from tqdm import tqdm

from diffurec.datasets import Dataset, find_dataset
from diffurec.errors import DataError
from pipeline import layout
from pipeline.app import app
from pipeline.arguments import DatasetKey
from pipeline.files.atomic_write import atomic_dir, write_json
from pipeline.files.recbole_inter import header_names
from pipeline.params import DEFAULT_PARAMS, load_config
from pipeline.recbole_install import bundled_inter, recbole_dir, recbole_url

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60
MIRROR_HINT = (
    "set data.mirror to a local copy of RecBole's dataset bucket (same <Group>/<Name>.zip layout), "
    "e.g. `dvc exp run -S data.mirror=../shared/datasets/recbole-mirror` or data.mirror in params.yaml"
)


@app.command()
def download(
    dataset: DatasetKey,
    out: Annotated[Path | None, typer.Option(help="Folder to create. Default: data/raw/DATASET.")] = None,
    params: Annotated[Path, typer.Option(help="Parameters file (reads data.mirror, data.sha256).")] = DEFAULT_PARAMS,
) -> None:
    """Fetch DATASET's interaction file into OUT/DATASET.inter, with OUT/source.json.

    ml-100k is copied from the installed recbole wheel (no network, data.mirror unused). The
    other datasets are zips at RecBole's URLs, or under data.mirror (a folder or URL base with
    the same layout). A pinned data.sha256.DATASET must match the archive.
    """
    source = find_dataset(dataset)
    config = load_config(params)
    pin = config.data.sha256.get(dataset)
    with atomic_dir(out or layout.raw_dir(dataset)) as staging:
        inter = staging / f"{dataset}.inter"
        if source.archive is None:
            location = bundled_inter(source)
            wheel_path = location.relative_to(recbole_dir().parent).as_posix()
            label = f"recbole {metadata.version('recbole')} wheel: {wheel_path}"
            digest, size = _fetch(str(location), inter, dataset, mirror_set=False)
            _check_pin(label, digest, pin, dataset)
        else:
            label = _archive_location(source, config.data.mirror)
            archive = staging / "archive.zip"
            digest, size = _fetch(label, archive, dataset, mirror_set=config.data.mirror is not None)
            _check_pin(label, digest, pin, dataset)
            _extract(archive, source.inter, label, inter)
            archive.unlink()
            # Refuse what preprocess would refuse before it replaces a good download (preprocess
            # still reads and checks every line).
            header_names(inter, name=f"{label} ({source.inter})")
        write_json(
            staging / "source.json",
            {"dataset": dataset, "source": label, "sha256": digest, "size_bytes": size, "inter_file": source.inter},
        )


def _archive_location(source: Dataset, mirror: str | None) -> str:
    if mirror is None:
        return recbole_url(source.key)
    if "://" in mirror:
        return f"{mirror.rstrip('/')}/{source.archive}"
    if not Path(mirror).is_dir():
        raise DataError(f"data.mirror: folder {mirror!r} not found (relative to {Path.cwd()}); {MIRROR_HINT}")
    return (Path(mirror) / source.archive).as_posix()


def _fetch(location: str, dest: Path, dataset: str, mirror_set: bool) -> tuple[str, int]:
    """Copy a URL or local file to `dest` with a progress bar; return its sha256 and size."""
    digest = hashlib.sha256()
    hint = "check data.mirror" if mirror_set else MIRROR_HINT
    try:
        with _open(location) as (stream, total), dest.open("wb") as out:
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"download {dataset}") as bar:
                while chunk := stream.read(CHUNK_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise DataError(f"{location}: HTTP {error.code} {error.reason}; {hint}") from error
    except FileNotFoundError as error:
        raise DataError(f"{location}: not found; {hint}") from error
    except urllib.error.URLError as error:
        raise DataError(f"{location}: cannot download ({error.reason}); offline? {hint}") from error
    except (OSError, http.client.HTTPException) as error:
        raise DataError(f"{location}: download failed ({error}); {hint}") from error
    return digest.hexdigest(), dest.stat().st_size


@contextmanager
def _open(location: str) -> Iterator[tuple[BinaryIO, int | None]]:
    if "://" in location:
        with urllib.request.urlopen(location, timeout=TIMEOUT_SECONDS) as response:
            length = response.headers.get("Content-Length")
            yield response, int(length) if length else None
    else:
        with open(location, "rb") as file:
            yield file, os.fstat(file.fileno()).st_size


def _check_pin(label: str, digest: str, pin: str | None, dataset: str) -> None:
    if pin is not None and digest != pin.lower():
        raise DataError(
            f"{label}: sha256 {digest} does not match the pinned data.sha256.{dataset} = {pin}; "
            "the archive is corrupt or another version: fix data.mirror or update the pin in params.yaml"
        )


def _extract(archive: Path, member: str, label: str, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zipped:
            names = [name for name in zipped.namelist() if not name.startswith("__MACOSX/")]
            matches = [name for name in names if PurePosixPath(name).name == member]
            if len(matches) != 1:
                raise DataError(f"{label}: expected one {member} in the archive, found {len(matches)} among {names}")
            with zipped.open(matches[0]) as packed, dest.open("wb") as out:
                shutil.copyfileobj(packed, out, CHUNK_BYTES)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise DataError(f"{label}: not a valid zip archive ({error}); replace the file or re-download it") from error
