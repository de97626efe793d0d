"""What the stages that rank the test users of trained runs share (evaluate, ensemble, ablation):
the split, checked against eval.ks before any model is loaded; the test windows on the models'
device; and the ranking under params.yaml's eval.* settings, so every such stage ranks alike."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from diffurec.config import Config, EvalConfig
from diffurec.device import resolve_device
from diffurec.diffusion import ReverseOptions
from diffurec.inference import Member, rank_targets
from diffurec.metrics import check_cutoffs
from diffurec.model import DiffuRec
from diffurec.sequences import SequenceData, Windows, encode, evaluation_windows
from pipeline import layout
from pipeline.files.checkpoint import load_run_models
from pipeline.files.data_tables import read_split


def read_test_split(dataset: str, config: Config) -> SequenceData:
    """The dataset's split, encoded; refused if eval.ks reaches beyond its items."""
    data = encode(read_split(layout.split_file(dataset)))
    check_cutoffs(config.eval.ks, data.n_items, dataset)
    return data


def ranked_windows(data: SequenceData, model: DiffuRec) -> Windows:
    """Every user's test window, histories cut to the model's max_len, on the model's device."""
    return evaluation_windows(data, "test", model.config.max_len).to(next(model.parameters()).device)


def load_test_run(dataset: str, variant: str, seed: int, config: Config) -> tuple[SequenceData, DiffuRec, Windows]:
    """The split, the run's trained model on eval.device and the test windows on that device."""
    data = read_test_split(dataset, config)
    model = load_run_models(dataset, variant, [seed], data.items, resolve_device(config.eval.device))[seed]
    return data, model, ranked_windows(data, model)


def rank_test_users(
    members: Sequence[Member], windows: Windows, settings: EvalConfig, reverse: ReverseOptions = ReverseOptions()
) -> np.ndarray:
    """Each test target's rank (int64 [S], window order) under eval.batch_size, mask_history,
    precision and compile; `reverse`: the inference ablations, by default none."""
    return rank_targets(members, windows, batch_size=settings.batch_size, mask_history=settings.mask_history,
                        precision=settings.precision, compile=settings.compile, reverse=reverse)
