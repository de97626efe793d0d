"""Small datasets whose right answer is known, and a model config sized for them on a CPU."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from diffurec.config import Config


def cycle_split(n_users: int, n_items: int, seed: int, rule: bool = True) -> pd.DataFrame:
    """Each user walks the cycle 1 -> 2 -> ... -> n_items -> 1 from a random start for 8-14 steps.

    With `rule=False` the training items are drawn at random instead (the valid and test items
    still continue the cycle from the user's last real step), so nothing in training predicts them.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        start = int(rng.integers(n_items))
        length = int(rng.integers(8, 15))
        walk = [f"i{(start + step) % n_items}" for step in range(length)]
        train = walk[:-2] if rule else [f"i{item}" for item in rng.integers(n_items, size=length - 2)]
        rows.append({"user_id": f"u{user}", "train": train, "valid": walk[-2], "test": walk[-1]})
    return pd.DataFrame(rows)


def tiny_config(**train) -> Config:
    """A model small enough for tests, trained with `train` overrides."""
    config = Config.from_dict(
        {
            "model": {"hidden": 32, "blocks": 1, "heads": 2, "max_len": 10},
            "train": {"epochs": 3, "batch_size": 64, "lr": 0.005, "device": "cpu"},
            "eval": {"batch_size": 64, "device": "cpu"},
        }
    )
    return dataclasses.replace(config, train=dataclasses.replace(config.train, **train))
