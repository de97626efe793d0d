"""params.yaml -> Config: every bad value is one ConfigError that names its key, before any work."""

from pathlib import Path

import pytest
import yaml

from diffurec.config import Config
from diffurec.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def _with(key: str, value) -> dict:
    """params.yaml with one dotted key set (added when absent)."""
    raw = yaml.safe_load(yaml.safe_dump(PARAMS))
    *parents, leaf = key.split(".")
    node = raw
    for parent in parents:
        node = node[parent]
    node[leaf] = value
    return raw


def test_params_yaml_loads_with_every_section_typed():
    config = Config.from_dict(PARAMS)
    assert config.datasets == ("ml-100k",) and config.eval.ks == (5, 10, 20)
    assert isinstance(config.train.lr, float) and config.model.norm == "post"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("model.hidden", 30, "divisible by model.heads"),
        ("model.max_len", 0, "model.max_len must be >= 1"),
        ("model.dropout", 1.0, r"model.dropout must be in \[0, 1\)"),
        ("model.norm", "sandwich", "model.norm must be one of"),
        ("model.offset_mode", "per_dim", "model.offset_mode must be one of"),
        ("model.lambda_delta", float("nan"), "model.lambda_delta must be a finite number"),
        ("model.delta_c", float("inf"), "model.delta_c must be a finite number"),
        ("train.epochs", -1, "train.epochs must be >= 1"),
        ("train.epochs", 2.5, "train.epochs must be an integer"),
        ("train.lr", 0, "train.lr must be > 0"),
        ("train.lr", -0.1, "train.lr must be > 0"),
        ("train.lr", float("nan"), "train.lr must be a finite number"),
        ("train.weight_decay", -1, "train.weight_decay must be >= 0"),
        ("train.lr_decay_epoch", 0, "train.lr_decay_epoch must be >= 1"),
        ("train.lr_decay_gamma", -1, r"train.lr_decay_gamma must be in \(0, 1\]"),
        ("train.valid_users", -5, "train.valid_users must be >= 0"),
        ("train.device", "cudafoo", "train.device must be 'auto', 'cpu' or 'cuda"),
        ("eval.device", "cuda:x", "eval.device must be 'auto', 'cpu' or 'cuda"),
        ("eval.ks", [], "eval.ks must list cut-offs >= 1"),
        ("seeds", [], "'seeds' is empty"),
        ("variants", ["v3"], "unknown variant 'v3'"),
        ("model.hiden", 64, r"unknown key\(s\) \['model.hiden'\]"),
        ("model.norm_eps", 0, r"model.norm_eps must be in \(0, 1\)"),
        ("model.activation", "swish", "model.activation must be one of"),
        ("model.init", "kaiming", "model.init must be one of"),
        ("model.padding_class", "yes", "model.padding_class must be true or false"),
        ("train.patience", -1, "train.patience must be >= 0"),
        ("train.eval_offset", -1, "train.eval_offset must be >= 0"),
        ("train.selection", "hr10", "train.selection must be one of"),
        ("train.batching", "random", "train.batching must be one of"),
        ("eval.averaging", "items", "eval.averaging must be one of"),
        ("train.compile", "inductor", r"train.compile must be one of \['auto', 'eager', 'compiled'\], got 'inductor'"),
        ("eval.compile", False, r"eval.compile must be one of .*got the boolean False; write one of those words"),
        ("data.filters", {"ml-2m": {"min_item_inter": 1}}, "data.filters names unknown dataset 'ml-2m'"),
        ("data.filters", {"ml-1m": {"min_item_inter": 0}}, r"data.filters.ml-1m.min_item_inter must be >= 1"),
        ("data.filters", {"ml-1m": {"min_items": 1}}, r"unknown key\(s\) \['data.filters.ml-1m.min_items'\]"),
        ("verdict.alpha", 1.0, r"verdict.alpha must be in \(0, 1\)"),
        ("verdict.bootstrap_resamples", 10, "verdict.bootstrap_resamples must be >= 100"),
        ("verdict.bootstrap_seed", -1, "verdict.bootstrap_seed must be >= 0"),
        ("verdict.cv_threshold", 0, "verdict.cv_threshold must be > 0"),
        ("verdict.smallest_effect", -0.1, "verdict.smallest_effect must be > 0"),
        ("verdict.margin", 0.1, r"unknown key\(s\) \['verdict.margin'\]"),
    ],
)
def test_a_bad_value_is_refused_naming_its_key(key, value, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_dict(_with(key, value))


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1"])
def test_device_names_torch_understands_are_accepted(device):
    assert Config.from_dict(_with("train.device", device)).train.device == device
