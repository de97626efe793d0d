"""params.yaml (CPU default) and profiles/paper.yaml (section 6.2) both load into the typed
config, and the paper profile holds the paper's settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from diffurec.config import Config

ROOT = Path(__file__).resolve().parents[1]


def _leaf_keys(tree: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in tree.items():
        if isinstance(value, dict) and key != "models":
            keys |= _leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.add(prefix + key)
    return keys


@pytest.mark.parametrize("name", ["params.yaml", "profiles/paper.yaml"])
def test_profile_loads(name: str) -> None:
    Config.from_dict(yaml.safe_load((ROOT / name).read_text()))


def test_paper_profile_names_the_same_keys_as_params_yaml() -> None:
    """dvc.yaml tracks keys by name: a key missing from the profile would stop `dvc repro`."""
    default = yaml.safe_load((ROOT / "params.yaml").read_text())
    paper = yaml.safe_load((ROOT / "profiles" / "paper.yaml").read_text())
    assert _leaf_keys(paper) == _leaf_keys(default)
    assert set(paper["recbole"]["models"]) == set(default["recbole"]["models"])


def test_paper_profile_is_section_6_2() -> None:
    config = Config.from_dict(yaml.safe_load((ROOT / "profiles" / "paper.yaml").read_text()))
    assert set(config.datasets) == {"amazon-beauty", "amazon-toys-games", "ml-1m"}
    assert len(config.seeds) == 5
    model, train = config.model, config.train
    assert (model.hidden, model.blocks, model.max_len, model.steps, model.schedule) == (128, 4, 100, 32, "trunc_lin")
    assert (model.dropout, model.emb_dropout, model.lambda_delta, model.offset) == (0.1, 0.3, 0.001, 0.1)
    assert (train.epochs, train.batch_size, train.lr, train.weight_decay, train.lr_decay_epoch) == (41, 1024, 0.001, 0.0001, 30)
    assert all(settings.epochs is None for settings in config.recbole.models.values())
