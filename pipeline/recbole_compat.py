"""RecBole 1.2.1 on numpy 2, torch >= 2.6 and pandas 3, contained to one run folder and quiet.

RecBole 1.2.1 predates these versions (upstream issues #2215, #1604 and #2212, fixes unmerged).
What breaks, and what this module does about it:

- numpy 2 removed `np.float_`, `np.complex_` and `np.unicode_`; RecBole's `Config` aliases
  `np.float`, `np.int`, ... from them when it is built, and its metrics use `np.float`.
  `restore_numpy_aliases` puts the three names back, bound to the types they always meant.
- torch >= 2.6 loads checkpoints weights-only; RecBole's checkpoints pickle its whole `Config`.
  `load_checkpoint` reads the checkpoint a run has just written with `weights_only=False`.
- pandas 3 copy-on-write turns RecBole's chained `fillna(inplace=True)` into a no-op that warns.
  Harmless as long as the interaction files hold no missing value, which our writer guarantees; the
  warning goes to the run's log with every other warning.
- `import recbole.quick_start` imports ray, which fails on numpy 2 and setuptools >= 81: only
  RecBole's low-level API is used (`Config`, `create_dataset`, `data_preparation`, trainers).
- Importing RecBole's models (`get_model`) runs `torch.autograd.set_detect_anomaly(True)` in
  sine.py, for the whole process; `recbole_runner.train_and_rank` switches it off again.
- RecBole's `Config` reads `--key=value` arguments from `sys.argv` with top priority:
  `build_config` hides the command line while it runs.
- RecBole logs through the root logger, writes TensorBoard events to `./log_tensorboard` and
  draws one coloured bar per epoch: `recbole_session` sends its log to one file, discards the
  TensorBoard events and shows a single progress bar over all training batches.
- RecBole's models drop out through `nn.Dropout`, whose CPU mask depends on the processor's
  maker (`diffurec.dropout`): `recbole_session` gives them `diffurec.dropout.dropout` instead, so
  a baseline trains alike on Intel and AMD machines.
- Three more of RecBole's computations go through MKL's vector math on the CPU, whose bits may
  depend on the processor's maker (`pipeline.cpu_pins.MKL_VECTOR_MATH`): its Transformer's GELU,
  `x * 0.5 * (1 + erf(x / sqrt(2)))`; its BPR loss, `-log(gamma + sigmoid(d))`; and its Adam's
  square root. `recbole_session` gives them the same functions through ATen's own kernels:
  `torch.nn.functional.gelu` (the same erf formula), `xlogy(1, .)` for the log (the C library's,
  bit for bit on every processor), and Adam with `fused=True`, as our models train.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch
from tqdm import tqdm

from diffurec.dropout import dropout

# Names numpy 2 removed that RecBole 1.2.1 still reads, and the types they stood for.
NUMPY_ALIASES = {"float_": np.float64, "complex_": np.complex128, "unicode_": np.str_}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def restore_numpy_aliases() -> None:
    """Give numpy back the aliases RecBole needs; a no-op on numpy 1.x, where they still exist."""
    for name, value in NUMPY_ALIASES.items():
        if name not in np.__dict__:
            setattr(np, name, value)


def build_config(model: str, dataset: str, settings: dict[str, Any]) -> Any:
    """RecBole's `Config` from `settings` alone: the command line and RecBole's numpy 1 aliases are handled."""
    restore_numpy_aliases()
    from recbole.config import Config

    with mock.patch.object(sys, "argv", sys.argv[:1]):
        return Config(model=model, dataset=dataset, config_dict=settings)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint RecBole wrote during this run (it pickles its Config, so not weights-only)."""
    return torch.load(path, map_location="cpu", weights_only=False)


def _gelu(self: Any, x: torch.Tensor) -> torch.Tensor:
    """RecBole's `FeedForward.gelu` (the erf form) through ATen's GELU kernel instead of `torch.erf`."""
    return torch.nn.functional.gelu(x)


def _bpr_loss(self: Any, pos_score: torch.Tensor, neg_score: torch.Tensor) -> torch.Tensor:
    """RecBole's `BPRLoss.forward`, its log taken by `xlogy(1, .)` instead of `torch.log`."""
    return -torch.special.xlogy(1.0, self.gamma + torch.sigmoid(pos_score - neg_score)).mean()


# torch's own, bound once: `recbole_session` puts `_fused_adam` in its place for RecBole's trainer.
_TORCH_ADAM = torch.optim.Adam


def _fused_adam(*args: Any, **kwargs: Any) -> torch.optim.Adam:
    """RecBole's Adam, fused: its square root in ATen's fused kernel, not `torch.sqrt`."""
    return _TORCH_ADAM(*args, **kwargs, fused=True)


class _NullWriter:
    """Accepts every TensorBoard call RecBole makes and writes nothing."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class _BatchCounter:
    """Stands in for the tqdm RecBole wraps a loop in: advances the session bar per training batch."""

    def __init__(self, iterable: Iterable, bar: tqdm | None) -> None:
        self.iterable = iterable
        self.bar = bar

    def __iter__(self) -> Iterator:
        for item in self.iterable:
            yield item
            if self.bar is not None:
                self.bar.update(1)

    def __len__(self) -> int:
        return len(self.iterable)

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        """RecBole shows GPU memory here; the session bar does not."""


class _StripColour(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _ANSI.sub("", str(record.msg))
        return True


class SessionBar:
    """One bar over every training batch of the run, opened when RecBole starts its first epoch."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.epochs: int | None = None
        self.bar: tqdm | None = None

    def expect(self, epochs: int) -> None:
        """Size the bar for `epochs` epochs (early stopping ends it sooner)."""
        self.epochs = epochs

    def wrap(self, iterable: Iterable, *args: Any, total: int | None = None, desc: str = "", **kwargs: Any) -> _BatchCounter:
        # RecBole labels its training loop "Train <epoch>"; evaluation loops do not move the bar.
        if "Train" not in desc:
            return _BatchCounter(iterable, None)
        if self.bar is None:
            batches = total if total is not None else len(iterable)
            total_batches = None if self.epochs is None else self.epochs * batches
            # disable=None: drawn on a terminal only, so a log (`dvc repro > log`) holds no redraws.
            self.bar = tqdm(total=total_batches, desc=self.description, unit="batch", file=sys.stderr, disable=None)
        return _BatchCounter(iterable, self.bar)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def recbole_session(log_file: Path, description: str, threads: int = 0) -> Iterator[SessionBar]:
    """Run RecBole with its log in `log_file`, no TensorBoard files, and one bar on stderr.

    Yields the bar, which counts training batches; `expect` sizes it once the epochs are known.
    `threads` > 0 sets torch's CPU threads for the session. Everything is restored on exit, so
    tests and other stages in the same process are unaffected.
    """
    restore_numpy_aliases()
    import recbole.model.layers as recbole_layers
    import recbole.model.loss as recbole_loss
    import recbole.trainer.trainer as recbole_trainer

    root = logging.getLogger()
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(_StripColour())
    old_level, old_threads = root.level, torch.get_num_threads()
    bar = SessionBar(description)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        with (
            warnings.catch_warnings(),
            mock.patch.object(recbole_trainer, "get_tensorboard", lambda logger: _NullWriter()),
            mock.patch.object(recbole_trainer, "tqdm", bar.wrap),
            # nn.Dropout.forward calls torch.nn.functional.dropout by name.
            mock.patch.object(torch.nn.functional, "dropout", dropout),
            # Off MKL's vector math (module docstring); a model binds its GELU when it is built.
            mock.patch.object(recbole_layers.FeedForward, "gelu", _gelu),
            mock.patch.object(recbole_loss.BPRLoss, "forward", _bpr_loss),
            mock.patch.object(recbole_trainer.optim, "Adam", _fused_adam),
        ):
            warnings.simplefilter("default")
            yield bar
    finally:
        bar.close()
        torch.set_num_threads(old_threads)
        logging.captureWarnings(False)
        root.setLevel(old_level)
        root.removeHandler(handler)
        handler.close()
