"""Reading a YAML file that a person edits (params.yaml, the paper's printed numbers): a missing
file or broken YAML becomes the caller's error, naming the file and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_yaml(path: Path, error: type[Exception], missing_fix: str, invalid_fix: str) -> Any:
    """The parsed contents of `path`; `error` with the path and `missing_fix` when it is not a file,
    with the parser's complaint and `invalid_fix` when it is not valid YAML."""
    if not path.is_file():
        raise error(f"{path}: not found; {missing_fix}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as problem:
        raise error(f"{path}: not valid YAML ({problem}); {invalid_fix}") from problem
