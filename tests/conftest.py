"""Stop before collection, with the fix, when the project is not installed in this Python: a
bare `python3 -m pytest` otherwise fails on every test module's imports, one traceback each.

The benchmark scripts run as `python benchmarks/NAME.py`, which puts benchmarks/ first on the
path, and import their sibling modules by name (`from common import ...`, the device lab as
`device.<module>`); their tests import them the same way.
"""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REQUIRED = ("torch", "numpy", "pandas", "typer", "yaml")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
# The tests check behaviour, not that two machines agree: they run the stages without the CPU pins
# (pipeline/cpu_pins.py), at the machine's own speed; tests/test_cpu_pins.py checks the pins.
# DIFFUREC_CPU_PINS=on runs them pinned.
os.environ.setdefault("DIFFUREC_CPU_PINS", "off")


def pytest_configure(config: pytest.Config) -> None:
    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        pytest.exit(
            f"{sys.executable} lacks {missing}; run README's test command, which installs the project "
            "first: python3 -m venv .venv && . .venv/bin/activate && "
            "pip install torch==2.13.0 -e '.[pipeline,test]' && python -m pytest -q",
            returncode=2,
        )
