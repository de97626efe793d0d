"""One module per command, named after it (a dash in the command is an underscore here).
Importing a module registers its command on the app; `register` does that. A stage module never
imports another: what stages share lives in pipeline/ or diffurec/ (tests/test_layers.py).

Importing this package imports no stage, so that `python -m pipeline train ...` loads the train
stage's imports alone: scipy, matplotlib or scikit-learn cost a stage that does not use them a
second or more at every start, and `dvc repro` starts some fifty.
"""

from __future__ import annotations

import importlib
import pkgutil

# Every module of this package is a stage: the list is the folder's, never kept by hand.
MODULES = tuple(module.name for module in pkgutil.iter_modules(__path__))


def register(command: str | None = None) -> None:
    """Register `command`'s stage, or every stage: for None, or a name that is no stage (the
    app's help or its "no such command" error then lists them all)."""
    module = command.replace("-", "_") if command else None
    for name in [module] if module in MODULES else MODULES:
        importlib.import_module(f"{__name__}.{name}")
