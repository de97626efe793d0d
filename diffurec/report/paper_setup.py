"""The paper's configuration (section 6.2) as params keys, and how a run's params differ from it.

Only the settings the paper states are listed: a printed number is a claim about runs made with
them, so the verdict compares it with ours only when none of them differs (claim C9).
"""

from __future__ import annotations

from dataclasses import dataclass

from diffurec.config import Config

# Section 6.2, in its order: "embedding dimension and hidden state size are fixed at 128, with a
# batch size of 1024", "Dropout rates ... 0.1 and 0.3", lambda ~ N(0.001, 0.001), "The total
# number of reverse steps t is set to 32", "a truncated linear schedule", "The maximum sequence
# length is set to 100", "an initial learning rate of 0.001, a weight decay of 0.0001, and a
# learning rate decay step ... starting at epoch 30, with the total number of epochs set to 41",
# "the number of blocks is set to 4".
PAPER_MODEL = {
    "hidden": 128,
    "dropout": 0.1,
    "emb_dropout": 0.3,
    "lambda_delta": 0.001,
    "steps": 32,
    "schedule": "trunc_lin",
    "max_len": 100,
    "blocks": 4,
}
PAPER_TRAIN = {"batch_size": 1024, "lr": 0.001, "weight_decay": 0.0001, "lr_decay_epoch": 30, "epochs": 41}
# "we filter out unpopular items and inactive users who have fewer than five associated interactions"
PAPER_MIN_INTERACTIONS = 5


@dataclass(frozen=True)
class SetupDifference:
    """One param whose value in this run is not the paper's; `key` as params.yaml names it."""

    key: str
    ours: object
    paper: object


def setup_differences(config: Config, dataset: str) -> tuple[SetupDifference, ...]:
    """The params of `config` that differ from section 6.2 for `dataset` (its data filters may be
    its own), in the order listed above; empty at the paper's configuration."""
    values = [(f"model.{name}", getattr(config.model, name), paper) for name, paper in PAPER_MODEL.items()]
    values += [(f"train.{name}", getattr(config.train, name), paper) for name, paper in PAPER_TRAIN.items()]
    values += [(key, value, PAPER_MIN_INTERACTIONS) for key, value in config.data.threshold_settings(dataset)]
    return tuple(SetupDifference(key, ours, paper) for key, ours, paper in values if ours != paper)
