"""Download: sources, recorded checksums, pins, mirrors, and clean refusals of bad archives."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from data_stage_support import ML100K_INTER, MIRROR, assert_refused, needs_mirror, run_cli, write_params
from diffurec.datasets import CATALOGUE, DATASETS
from pipeline.recbole_install import recbole_url

BEAUTY_ZIP = MIRROR / "Amazon_ratings" / "Amazon_Beauty.zip"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_nothing_left(out: Path) -> None:
    """Neither the output folder nor a staging folder beside it."""
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_every_dataset_has_a_source_matching_recbole():
    for dataset in CATALOGUE:
        if dataset.archive is not None:
            assert recbole_url(dataset.key).endswith("/ProcessedDatasets/" + dataset.archive)
            assert Path(dataset.archive).stem == Path(dataset.inter).stem


def test_ml100k_is_copied_from_the_recbole_wheel_with_its_checksum(tmp_path):
    out = tmp_path / "raw" / "ml-100k"
    code, stderr = run_cli("download", "ml-100k", "--out", out, "--params", write_params(tmp_path))
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["ml-100k.inter", "source.json"]
    assert (out / "ml-100k.inter").read_bytes() == ML100K_INTER.read_bytes()
    record = json.loads((out / "source.json").read_text())
    assert record["sha256"] == sha256(ML100K_INTER)
    assert record["size_bytes"] == ML100K_INTER.stat().st_size
    assert record["source"].endswith("recbole/dataset_example/ml-100k/ml-100k.inter")


def test_matching_pin_is_accepted_and_a_mismatch_refused(tmp_path):
    out = tmp_path / "raw" / "ml-100k"
    pinned = write_params(tmp_path, sha256={"ml-100k": sha256(ML100K_INTER).upper()})
    assert run_cli("download", "ml-100k", "--out", out, "--params", pinned)[0] == 0
    shutil.rmtree(out)
    wrong = write_params(tmp_path, sha256={"ml-100k": "0" * 64})
    code, stderr = run_cli("download", "ml-100k", "--out", out, "--params", wrong)
    mismatch = f"sha256 {sha256(ML100K_INTER)} does not match"
    assert_refused(code, stderr, "ml-100k.inter", mismatch, "data.sha256.ml-100k")
    assert_nothing_left(out)


@needs_mirror
def test_mirror_folder_archive_is_extracted_and_recorded(tmp_path):
    out = tmp_path / "raw" / "amazon-beauty"
    params = write_params(tmp_path, mirror=str(MIRROR), sha256={"amazon-beauty": sha256(BEAUTY_ZIP)})
    code, stderr = run_cli("download", "amazon-beauty", "--out", out, "--params", params)
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["amazon-beauty.inter", "source.json"]
    with zipfile.ZipFile(BEAUTY_ZIP) as zipped:
        assert (out / "amazon-beauty.inter").read_bytes() == zipped.read("Amazon_Beauty.inter")
    record = json.loads((out / "source.json").read_text())
    assert record["source"] == BEAUTY_ZIP.as_posix()
    assert (record["sha256"], record["size_bytes"]) == (sha256(BEAUTY_ZIP), BEAUTY_ZIP.stat().st_size)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the request log out of the CLI's captured stderr."""


@needs_mirror
def test_mirror_url_is_downloaded_over_http(tmp_path):
    handler = functools.partial(QuietHandler, directory=str(MIRROR))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        out = tmp_path / "raw" / "amazon-beauty"
        params = write_params(tmp_path, mirror=base)
        code, stderr = run_cli("download", "amazon-beauty", "--out", out, "--params", params)
        server.shutdown()
    assert code == 0, stderr
    record = json.loads((out / "source.json").read_text())
    assert record["source"] == base + "Amazon_ratings/Amazon_Beauty.zip"
    assert record["sha256"] == sha256(BEAUTY_ZIP)


def test_unreachable_source_names_the_mirror_setting(tmp_path):
    out = tmp_path / "raw" / "ml-1m"
    params = write_params(tmp_path, mirror="http://127.0.0.1:9")
    code, stderr = run_cli("download", "ml-1m", "--out", out, "--params", params)
    assert_refused(code, stderr, "http://127.0.0.1:9/MovieLens/ml-1m.zip: cannot download", "data.mirror")
    assert_nothing_left(out)


def test_missing_mirror_folder_is_refused(tmp_path):
    out = tmp_path / "raw" / "ml-1m"
    params = write_params(tmp_path, mirror=str(tmp_path / "nowhere"))
    code, stderr = run_cli("download", "ml-1m", "--out", out, "--params", params)
    assert_refused(code, stderr, "data.mirror: folder", "nowhere", "not found")
    assert_nothing_left(out)


def corrupt_copy(data: bytes) -> bytes:
    """The archive with bytes flipped inside the compressed member, headers intact."""
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


BAD_ARCHIVES = {
    "not a zip": (lambda data: b"<html>404</html>", "not a valid zip archive"),
    "truncated": (lambda data: data[: len(data) // 2], "not a valid zip archive"),
    "corrupt member": (corrupt_copy, "not a valid zip archive"),
}


@needs_mirror
@pytest.mark.parametrize("name", BAD_ARCHIVES)
def test_bad_archive_is_refused_without_output(tmp_path, name):
    damage, problem = BAD_ARCHIVES[name]
    archive = tmp_path / "mirror" / "Amazon_ratings" / "Amazon_Beauty.zip"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(damage(BEAUTY_ZIP.read_bytes()))
    out = tmp_path / "raw" / "amazon-beauty"
    params = write_params(tmp_path, mirror=str(tmp_path / "mirror"))
    code, stderr = run_cli("download", "amazon-beauty", "--out", out, "--params", params)
    assert_refused(code, stderr, archive.as_posix(), problem)
    assert_nothing_left(out)


def _download_ml1m_zip_holding(tmp_path, member: str, text: str):
    """A mirror whose ml-1m.zip holds one file `member`; download it; (archive, out, code, stderr)."""
    archive = tmp_path / "mirror" / "MovieLens" / "ml-1m.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(member, text)
    out = tmp_path / "raw" / "ml-1m"
    params = write_params(tmp_path, mirror=str(archive.parents[1]))
    code, stderr = run_cli("download", "ml-1m", "--out", out, "--params", params)
    return archive, out, code, stderr


def test_archive_without_the_interaction_file_is_refused(tmp_path):
    archive, out, code, stderr = _download_ml1m_zip_holding(tmp_path, "ml-1m/ml-1m.item", "item_id:token\n1\n")
    assert_refused(code, stderr, archive.as_posix(), "expected one ml-1m.inter in the archive, found 0")
    assert_nothing_left(out)


def test_an_archive_whose_interaction_file_lacks_a_column_does_not_replace_a_good_download(tmp_path):
    good = tmp_path / "raw" / "ml-1m"
    good.mkdir(parents=True)
    (good / "ml-1m.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\n1\t2\t3\n")
    archive, out, code, stderr = _download_ml1m_zip_holding(
        tmp_path, "ml-1m/ml-1m.inter", "user_id:token\titem:token\ttimestamp:float\n1\t2\t3\n"
    )
    assert_refused(code, stderr, f"{archive.as_posix()} (ml-1m.inter): no 'item_id' column")
    assert (out / "ml-1m.inter").read_text().startswith("user_id:token\titem_id:token")  # the good one, kept
    assert sorted(p.name for p in out.iterdir()) == ["ml-1m.inter"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["ml-1m"]


def test_interaction_file_in_a_subfolder_is_found(tmp_path):
    _, out, code, stderr = _download_ml1m_zip_holding(
        tmp_path, "ml-1m/ml-1m.inter", "user_id:token\titem_id:token\ttimestamp:float\n1\t2\t3\n"
    )
    assert code == 0, stderr
    assert (out / "ml-1m.inter").read_text().endswith("1\t2\t3\n")


def test_an_output_path_that_is_a_file_is_refused_and_kept(tmp_path):
    out = tmp_path / "raw-file"
    out.write_text("someone's notes")
    code, stderr = run_cli("download", "ml-100k", "--out", out, "--params", write_params(tmp_path))
    assert_refused(code, stderr, f"{out}: exists and is not a folder")
    assert out.read_text() == "someone's notes"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["params.yaml", "raw-file"]


def test_unknown_dataset_key_is_refused(tmp_path):
    out = tmp_path / "raw" / "movielens"
    code, stderr = run_cli("download", "movielens", "--out", out, "--params", write_params(tmp_path))
    assert_refused(code, stderr, "unknown dataset 'movielens'", str(list(DATASETS)))
    assert_nothing_left(out)


def test_module_entry_point_exits_nonzero_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "download", "movielens", "--params", write_params(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: unknown dataset 'movielens'")
    assert not (tmp_path / "data").exists()
