"""params.yaml (CPU default), profiles/paper.yaml (section 6.2) and profiles/official.yaml (the
official DiffuRec recipe) load into the typed config and hold what they say."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from diffurec.config import Config
from diffurec.variants import VARIANTS

ROOT = Path(__file__).resolve().parents[1]


def _leaf_keys(tree: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in tree.items():
        if isinstance(value, dict) and key != "models":
            keys |= _leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.add(prefix + key)
    return keys


@pytest.mark.parametrize("name", ["params.yaml", "profiles/paper.yaml", "profiles/official.yaml"])
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
    # The paper's three models and the control, trained with the same recipe.
    assert config.variants == VARIANTS
    model, train = config.model, config.train
    assert (model.hidden, model.blocks, model.max_len, model.steps, model.schedule) == (128, 4, 100, 32, "trunc_lin")
    assert (model.dropout, model.emb_dropout, model.lambda_delta, model.offset) == (0.1, 0.3, 0.001, 0.1)
    assert (train.epochs, train.batch_size, train.lr, train.weight_decay, train.lr_decay_epoch) == (41, 1024, 0.001, 0.0001, 30)
    assert all(settings.epochs is None for settings in config.recbole.models.values())


def test_the_paper_profile_computes_in_float32_as_the_paper_did():
    config = Config.from_dict(yaml.safe_load((ROOT / "profiles" / "paper.yaml").read_text()))
    assert (config.train.precision, config.eval.precision) == ("fp32", "fp32")


def test_official_profile_names_every_key_of_params_yaml():
    default = _leaf_keys(yaml.safe_load((ROOT / "params.yaml").read_text()))
    official = _leaf_keys(yaml.safe_load((ROOT / "profiles" / "official.yaml").read_text()))
    assert default <= official
    assert {key.split(".")[1] for key in official - default} == {"filters"}


def test_official_profile_is_the_official_recipe_with_every_quirk():
    config = Config.from_dict(yaml.safe_load((ROOT / "profiles" / "official.yaml").read_text()))
    model, train, evaluation = config.model, config.train, config.eval
    assert set(config.datasets) == {"amazon-beauty", "ml-1m"}
    assert config.variants == VARIANTS
    assert config.data.thresholds("ml-1m") == (5, 1) and config.data.thresholds("amazon-beauty") == (5, 5)
    assert (model.hidden, model.blocks, model.heads, model.max_len, model.steps) == (128, 4, 4, 50, 32)
    assert (model.dropout, model.emb_dropout, model.lambda_delta) == (0.1, 0.3, 0.001)
    assert (model.norm, model.activation, model.positional, model.mask) == ("pre", "gelu_tanh", False, "queries")
    assert (model.x0, model.reverse_noise, model.init, model.norm_eps) == ("embedding", "official", "official", 1e-12)
    assert model.ffn_dropout and model.block_dropout and model.padding_class
    assert (train.epochs, train.batch_size, train.lr, train.weight_decay) == (500, 512, 0.001, 0.0)
    assert (train.lr_decay_epoch, train.lr_decay_gamma) == (100, 0.1)
    assert (train.eval_every, train.eval_offset, train.patience, train.selection) == (20, 1, 5, "any")
    assert (train.batching, train.precision, train.valid_users) == ("shuffled", "fp32", 0)
    assert (evaluation.batch_size, evaluation.averaging, evaluation.mask_history) == (512, "batches", False)
    assert evaluation.precision == "fp32"


def test_the_default_gives_every_model_the_same_training_budget() -> None:
    # Ours and RecBole's: the same epoch cap, and the same patience (RecBole stops once more than
    # stopping_step validations in a row bring no better one; ours after `patience` of them).
    config = Config.from_dict(yaml.safe_load((ROOT / "params.yaml").read_text()))
    for name, run in config.recbole.models.items():
        assert run.epochs == config.train.epochs, name
        assert run.stopping_step + 1 == config.train.patience, name
