"""The house's layers, read from the source: benchmarks -> pipeline -> diffurec, the model core
below its report side, and no stage module importing another (what stages share lives a layer
down, in pipeline/ or diffurec/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, absolute names, wherever in the file the import stands."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            # `from pipeline import stages` imports the module pipeline.stages.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offending_imports(folder: str, forbidden: tuple[str, ...], exclude: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """File -> the imports under `folder` that name a module in (or below) `forbidden`."""
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in exclude:
            continue
        bad = sorted(
            name for name in imported_modules(path)
            if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
        )
        if bad:
            found[relative] = bad
    return found


def test_no_stage_module_imports_another_stage_module():
    assert offending_imports("pipeline/stages", ("pipeline.stages",), exclude=("pipeline/stages/__init__.py",)) == {}


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        # The device lab, benchmarks/device/, is imported as `device` by the benchmark scripts.
        ("diffurec", ("pipeline", "benchmarks", "device")),
        ("pipeline", ("benchmarks", "device")),
    ],
)
def test_layers_import_only_downward(folder, forbidden):
    assert offending_imports(folder, forbidden) == {}


def test_the_model_core_does_not_import_the_report_side():
    assert offending_imports("diffurec", ("diffurec.report",), exclude=tuple(
        path.relative_to(ROOT).as_posix() for path in (ROOT / "diffurec" / "report").rglob("*.py")
    )) == {}


def test_the_check_sees_an_import_between_stages(tmp_path):
    stage = tmp_path / "stage.py"
    stage.write_text("from pipeline import layout\nfrom pipeline.stages.train import train\n")
    assert "pipeline.stages.train" in imported_modules(stage)
    stage.write_text("def run():\n    from pipeline import stages\n")
    assert "pipeline.stages" in imported_modules(stage)
