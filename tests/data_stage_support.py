"""Shared by the data-stage tests: real inputs, a params file and an in-process CLI runner."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path
from unittest import mock

import pytest
import yaml

import pipeline.stages
from diffurec.datasets import find_dataset
from pipeline.app import main
from pipeline.recbole_install import bundled_inter

pipeline.stages.register()
ML100K_INTER = bundled_inter(find_dataset("ml-100k"))
MIRROR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "recbole-mirror"
needs_mirror = pytest.mark.skipif(not MIRROR.is_dir(), reason=f"shared dataset mirror {MIRROR} absent")


def write_params(directory: Path, **data: object) -> Path:
    """A params.yaml whose `data` section holds `data` (everything else at its default)."""
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump({"data": data}))
    return path


def run_cli(*args: str | Path) -> tuple[int, str]:
    """Run `python -m pipeline ARGS` in this process, as `__main__` does; return (exit code, stderr)."""
    stderr = io.StringIO()
    with (
        mock.patch.object(sys, "argv", ["pipeline", *map(str, args)]),
        contextlib.redirect_stderr(stderr),
        pytest.raises(SystemExit) as exit_info,
    ):
        main()
    return exit_info.value.code or 0, stderr.getvalue()


def assert_refused(code: int, stderr: str, *fragments: str) -> None:
    """A user error: exit 2 and a single `error:` line that contains every fragment."""
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert code == 2, stderr
    assert len(lines) == 1, stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
