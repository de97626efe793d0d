"""A RecBole baseline on exactly our leave-one-out split: interaction file, settings, training, test ranks.

How RecBole is made to reproduce our split (checked, not assumed: `recbole_split` reads back
what RecBole built and `check_same_split` compares it with ours before any training):
- The interaction file lists each user's whole sequence (train, then valid, then test) with
  timestamp = position in the sequence, so RecBole's time order (TO) is our order, tie-free.
- `eval_args: {split: {LS: valid_and_test}, order: TO, group_by: user, mode: full}` makes the
  last item of each sequence the test item and the one before it the validation item.
- No filtering, no duplicate removal: the split is already 5-core filtered.
- Full ranking over every item; the history is not masked (RecBole masks only the padding item
  for sequential models), the same as our evaluation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

from diffurec.config import RECBOLE_MODEL_SETTINGS, RecBoleModelConfig
from diffurec.errors import DataError
from diffurec.metrics import target_ranks
from diffurec.split import SPLIT_COLUMNS
from pipeline.recbole_compat import build_config, load_checkpoint
from pipeline.recbole_install import recbole_dir

# RecBole swaps the name "ml-100k" for its bundled copy, so our files go by another name.
RECBOLE_DATASET = "split"
# Model selection on the validation item, as RecBole reports it (our own metric for the test).
VALID_METRIC = "NDCG@10"
# Settings recorded in metrics.json besides each model's own, as RecBole resolved them.
RECORDED_SETTINGS = (
    "epochs",
    "train_batch_size",
    "learning_rate",
    "weight_decay",
    "stopping_step",
    "eval_step",
    "valid_metric",
    "MAX_ITEM_LIST_LENGTH",
    "train_neg_sample_args",
    "seed",
)


@dataclass(frozen=True)
class Prepared:
    """RecBole's config, dataset and dataloaders for one baseline."""

    config: Any
    dataset: Any
    train: Any
    valid: Any
    test: Any


@dataclass(frozen=True)
class BaselineResult:
    ranks: pd.DataFrame  # user_id (str), rank (int64), in the split's user order
    settings: dict[str, Any]
    train_seconds: float
    # 1-based: the epoch whose weights rank the test items, and the last epoch trained.
    best_epoch: int
    last_epoch: int
    # Early stopping ended the training (not the epoch budget).
    stopped_early: bool


def write_split_inter(split: pd.DataFrame, folder: Path) -> Path:
    """Write `split` as the RecBole interaction file `{folder}/{RECBOLE_DATASET}/{RECBOLE_DATASET}.inter`;
    return the file."""
    sequences = [[*train, valid, test] for train, valid, test in zip(split["train"], split["valid"], split["test"])]
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    frame = pd.DataFrame(
        {
            "user_id:token": np.repeat(split["user_id"].to_numpy(dtype=str), lengths),
            "item_id:token": np.concatenate([np.asarray(s, dtype=str) for s in sequences]),
            "timestamp:float": np.concatenate([np.arange(n, dtype=np.int64) for n in lengths]),
        }
    )
    path = folder / RECBOLE_DATASET / f"{RECBOLE_DATASET}.inter"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep="\t", index=False, lineterminator="\n")
    return path


def recbole_settings(
    run: RecBoleModelConfig, default_max_len: int, seed: int, data_path: Path, checkpoint_dir: Path
) -> dict[str, Any]:
    """RecBole's config dict for `run`: our split protocol, then every setting `run` gives."""
    settings: dict[str, Any] = {
        "data_path": str(data_path),
        "checkpoint_dir": str(checkpoint_dir),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        "rm_dup_inter": None,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
        "metrics": ["Hit", "NDCG"],
        "topk": [10],
        "valid_metric": VALID_METRIC,
        "seed": seed,
        "reproducibility": True,
        "show_progress": True,
        "save_dataset": False,
        "save_dataloaders": False,
        "MAX_ITEM_LIST_LENGTH": run.max_len or default_max_len,
    }
    for name in ("epochs", "train_batch_size", "learning_rate", "weight_decay", "stopping_step"):
        if getattr(run, name) is not None:
            settings[name] = getattr(run, name)
    settings.update(run.model_settings())
    # Cross-entropy scores every item, and RecBole refuses a sampled negative with it; the
    # pairwise loss keeps RecBole's default of one uniform negative.
    if (run.loss_type or model_default(run.model, "loss_type")) == "CE":
        settings["train_neg_sample_args"] = None
    return settings


def model_default(model: str, name: str) -> Any:
    """A setting's default in RecBole's own file for `model` (properties/model/<model>.yaml)."""
    path = recbole_dir() / "properties" / "model" / f"{model}.yaml"
    return yaml.safe_load(path.read_text())[name]


def prepare(run: RecBoleModelConfig, settings: dict[str, Any]) -> Prepared:
    """Build RecBole's config, dataset and train/valid/test dataloaders (seeded as RecBole does)."""
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import init_seed

    config = build_config(run.model, RECBOLE_DATASET, settings)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    return Prepared(config, dataset, train, valid, test)


def recbole_split(prepared: Prepared) -> pd.DataFrame:
    """The split as RecBole built it: user_id, train (list), valid, test, as item tokens, by user_id.

    Also checks that each evaluation history is the (max_len-truncated) sequence before the
    target, i.e. that the model sees what ours sees.
    """
    train = _frame(prepared.train._dataset, histories=False)
    valid = _frame(prepared.valid._dataset, histories=True).set_index("user_id")
    test = _frame(prepared.test._dataset, histories=True).set_index("user_id")
    max_len = prepared.config["MAX_ITEM_LIST_LENGTH"]
    first = train.groupby("user_id", sort=True)["first"].first()
    targets = train.groupby("user_id", sort=True)["target"].agg(list)
    # The first training target's history is the user's first item alone.
    sequences = [[head, *tail] for head, tail in zip(first, targets)]
    frame = pd.DataFrame(
        {
            "user_id": first.index.to_numpy(dtype=str),
            "train": sequences,
            "valid": valid["target"].reindex(first.index).to_numpy(),
            "test": test["target"].reindex(first.index).to_numpy(),
        }
    )
    valid_seen = dict(zip(valid.index, valid["history"]))
    test_seen = dict(zip(test.index, test["history"]))
    for user, sequence, v_target in zip(frame["user_id"], sequences, frame["valid"]):
        if user not in valid_seen or user not in test_seen:
            continue
        if valid_seen[user] != sequence[-max_len:] or test_seen[user] != [*sequence, v_target][-max_len:]:
            raise DataError(f"RecBole's evaluation history of user {user!r} is not the sequence before its target")
    return frame


def check_same_split(ours: pd.DataFrame, theirs: pd.DataFrame, source: Path) -> None:
    """Refuse to go on unless RecBole has the same users with the same train, valid and test items."""
    mine = ours.assign(train=ours["train"].map(list)).sort_values("user_id", kind="stable").reset_index(drop=True)
    if len(mine) != len(theirs) or not (mine["user_id"].to_numpy() == theirs["user_id"].to_numpy()).all():
        raise DataError(
            f"{source}: RecBole built {len(theirs)} users from it, the split has {len(mine)}; "
            "check that every user has at least three items (rerun the split stage)"
        )
    for column in SPLIT_COLUMNS[1:]:
        differs = [a != b for a, b in zip(mine[column], theirs[column])]
        if any(differs):
            user = mine["user_id"].iloc[differs.index(True)]
            raise DataError(f"{source}: RecBole's {column} items of user {user!r} differ from the split's; rerun the split stage")


def train_and_rank(prepared: Prepared, run: RecBoleModelConfig, users: pd.Series) -> BaselineResult:
    """Train with early stopping on validation NDCG@10, reload the best epoch, rank every test user."""
    from recbole.utils import get_model, get_trainer, init_seed

    config = prepared.config
    init_seed(config["seed"], config["reproducibility"])
    model_class = get_model(config["model"])
    # get_model imports every RecBole model, and sine.py's import switches autograd's anomaly
    # detection on for the whole process: a much slower backward that changes no number.
    torch.autograd.set_detect_anomaly(False)
    model = model_class(config, prepared.train._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    started = time.perf_counter()
    trainer.fit(prepared.train, prepared.valid, saved=True, show_progress=True)
    seconds = time.perf_counter() - started
    best = load_checkpoint(Path(trainer.saved_model_file))
    model.load_state_dict(best["state_dict"])
    model.load_other_parameter(best.get("other_parameter"))
    ranks = test_ranks(model, prepared)
    if set(ranks["user_id"]) != set(users):
        raise DataError("RecBole ranked other test users than the split holds; rerun the split stage")
    ordered = ranks.set_index("user_id").loc[users.to_numpy(dtype=str)].reset_index()
    last_epoch, stopped_early = training_extent(trainer)
    # The checkpoint RecBole keeps is the best validation's, and records its 0-based epoch.
    return BaselineResult(ordered, resolved_settings(config, run), seconds, best["epoch"] + 1, last_epoch, stopped_early)


def training_extent(trainer: Any) -> tuple[int, bool]:
    """(last epoch trained, 1-based; whether early stopping ended the training) of a fitted Trainer.

    RecBole's `fit` returns neither, but leaves both behind: it records every trained epoch's loss
    in `train_loss_dict` (by 0-based epoch), and it breaks off when `cur_step`, the validations in
    a row without a better score, exceeds `stopping_step`, which otherwise it never does (a better
    score resets the count).
    """
    last_epoch = max(trainer.train_loss_dict) + 1
    return last_epoch, bool(trainer.cur_step > trainer.stopping_step)


@torch.no_grad()
def test_ranks(model: torch.nn.Module, prepared: Prepared) -> pd.DataFrame:
    """Rank of each user's test item among all real items (ties count against it), history unmasked."""
    model.eval()
    dataset = prepared.test._dataset
    users, ranks = [], []
    for interaction, _, _, targets in prepared.test:
        interaction = interaction.to(prepared.config["device"])
        scores = model.full_sort_predict(interaction).view(len(targets), -1).float().cpu()
        ranks.append(target_ranks(scores, targets.cpu()).numpy())
        users.append(dataset.id2token(dataset.uid_field, interaction[dataset.uid_field].cpu().numpy()))
    return pd.DataFrame({"user_id": np.concatenate(users).astype(str), "rank": np.concatenate(ranks).astype(np.int64)})


def resolved_settings(config: Any, run: RecBoleModelConfig) -> dict[str, Any]:
    """Every training and model setting the run used, defaults included, as JSON values."""
    names = (*RECORDED_SETTINGS, *RECBOLE_MODEL_SETTINGS[run.model])
    settings = {"model": run.model, **{name: config[name] for name in names}}
    settings["max_len"] = settings.pop("MAX_ITEM_LIST_LENGTH")
    return settings


def _frame(dataset: Any, histories: bool) -> pd.DataFrame:
    """A RecBole sequential dataset as user_id, target, first (oldest history item) and, if asked,
    history (item tokens, oldest first); histories of every training row would not fit in memory."""
    inter = dataset.inter_feat
    lists = inter[dataset.item_id_list_field].numpy()
    frame = pd.DataFrame(
        {
            "user_id": dataset.id2token(dataset.uid_field, inter[dataset.uid_field].numpy()).astype(str),
            "target": dataset.id2token(dataset.iid_field, inter[dataset.iid_field].numpy()).astype(str),
            "first": dataset.id2token(dataset.iid_field, lists[:, 0]).astype(str),
        }
    )
    if histories:
        tokens = dataset.id2token(dataset.iid_field, lists).astype(str)
        lengths = inter[dataset.item_list_length_field].numpy()
        frame["history"] = [list(row[:n]) for row, n in zip(tokens, lengths)]
    return frame
