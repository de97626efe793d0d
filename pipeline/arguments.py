"""The command-line arguments several stages take, their help listing the known values from the
one list of each (diffurec.datasets, diffurec.variants). The stages still check the values
themselves, since benchmarks call them as Python functions too."""

from __future__ import annotations

from typing import Annotated

import typer

from diffurec.datasets import DATASETS
from diffurec.variants import VARIANTS

DatasetKey = Annotated[str, typer.Argument(help=f"Dataset key, one of {', '.join(DATASETS)}.")]
VariantKey = Annotated[str, typer.Argument(help=f"Variant, one of {', '.join(VARIANTS)}.")]
