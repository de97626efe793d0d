"""Reading a YAML file that a person edits (params.yaml, the paper's printed numbers): a missing
file or broken YAML becomes the caller's error, naming the file and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_yaml(path: Path, error: type[Exception], missing_fix: str, invalid_fix: str) -> Any:
    """The parsed contents of `path`; `error` with the path and `missing_fix` when it is not a file,
    with the reason and `invalid_fix` when it cannot be read as UTF-8 text or is not valid YAML."""
    if not path.is_file():
        raise error(f"{path}: not found; {missing_fix}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise error(f"{path}: cannot be read as UTF-8 text ({problem}); {invalid_fix}") from problem
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as problem:
        raise error(f"{path}: not valid YAML ({problem}); {invalid_fix}") from problem
