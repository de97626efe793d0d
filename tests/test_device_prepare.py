"""benchmarks/device/prepare.py: what a device call carries of the official code and of RecBole."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from device import prepare
from diffurec.errors import DataError
from tests.device_support import ROOT


def test_anchors_are_copied_writable_and_only_what_a_device_call_needs(tmp_path):
    source = tmp_path / "diffurec-official"
    for name in ("LICENSE", "src/main.py", "src/log/amazon_beauty/old.log", "src/__pycache__/main.pyc",
                 "datasets/data/amazon_beauty/dataset.pkl", "datasets/data/ml-1m/dataset.pkl"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(name)
    for path in sorted(source.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        target = prepare.copy_anchors(source, tmp_path / "copy" / "diffurec-official")
        files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
        assert files == ["LICENSE", "datasets/data/amazon_beauty/dataset.pkl", "src/main.py"]
        (target / "src" / "log").mkdir()  # the official code writes its logs here
        (target / "src" / "main.py").write_text("writable")
        assert prepare.copy_anchors(source, target) == target  # a second copy replaces the first
        assert (target / "src" / "main.py").read_text() == "src/main.py" and not (target / "src" / "log").exists()
        assert prepare.folder_bytes(target) == len("LICENSE") + len("src/main.py") + len(
            "datasets/data/amazon_beauty/dataset.pkl")
    finally:
        for path in source.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        source.chmod(0o755)


@pytest.mark.skipif(not (prepare.ANCHORS / "src" / "main.py").is_file(), reason="no official code here")
def test_the_carried_packages_are_what_python_imports_recbole_from(tmp_path):
    site = prepare.copy_packages(prepare.CARRIED_PACKAGES, tmp_path / "site")
    assert not list(site.rglob("__pycache__")) and (site / "recbole" / "properties" / "overall.yaml").is_file()
    assert prepare.folder_bytes(site) < 16 * 2**20
    # As a device call runs it: the carried folder on PYTHONPATH, ahead of anything installed.
    probe = ("import recbole, colorlog, texttable, recbole.trainer; "
             "from pipeline.recbole_runner import recbole_default; "
             "print(recbole.__file__, colorlog.__file__, texttable.__file__, recbole_default('SASRec', 'epochs'))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True,
                            env={**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"})
    *files, epochs = result.stdout.split()
    assert all(Path(f).is_relative_to(site) for f in files) and epochs == "300"
    with pytest.raises(DataError, match="no-such-package is not installed here"):
        prepare.copy_packages(("no-such-package",), tmp_path / "other")
