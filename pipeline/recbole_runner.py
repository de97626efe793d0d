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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

from diffurec.config import RECBOLE_MODEL_SETTINGS, RecBoleModelConfig
from diffurec.errors import DataError
from diffurec.metrics import summarize, target_ranks
from diffurec.split import SPLIT_COLUMNS
from pipeline.recbole_compat import build_config, load_checkpoint, recbole_session
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
    # The caller's `on_validation` ended the training (e.g. a device call's time ran out).
    interrupted: bool = False

    def summary(self, ks: Sequence[int], averaging_batch: int | None) -> dict[str, Any]:
        """HR@k and NDCG@k of the test ranks (rounded to 6 places), the number of test users, the
        settings, seconds and epochs of the training: what a run's metrics.json records."""
        ranks = self.ranks["rank"].to_numpy(dtype=np.int64)
        metrics = summarize(ranks, ks, averaging_batch)
        return {
            **{metric: round(value, 6) for metric, value in metrics.items()},
            "users": len(ranks),
            "settings": self.settings,
            "train_seconds": round(self.train_seconds, 2),
            "best_epoch": self.best_epoch,
            "last_epoch": self.last_epoch,
            "stopped_early": self.stopped_early,
        }


@dataclass(frozen=True)
class Validation:
    """One of RecBole's validations during training, as `on_validation` sees it."""

    epoch: int  # 1-based
    score: float  # validation NDCG@10 (VALID_METRIC)
    seconds: float  # since training began
    improved: bool  # the best so far: RecBole has just saved this epoch's checkpoint


# Called after every validation; returning True stops the training there (the best epoch so far
# still ranks the test items).
OnValidation = Callable[[Validation], bool]


def validation_history(validations: Sequence[Validation]) -> str:
    """A run's validations as a TSV, one row per validated epoch: epoch, valid_NDCG@10 (the column
    our training runs' history.tsv gives it) and the seconds since training began."""
    rows = [f"{v.epoch}\t{v.score:.6f}\t{v.seconds:.2f}" for v in validations]
    return "\n".join([f"epoch\tvalid_{VALID_METRIC}\tseconds", *rows]) + "\n"


class _Interrupted(Exception):
    """Raised inside RecBole's `fit` when `on_validation` asks to stop."""


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
    if (run.loss_type or recbole_default(run.model, "loss_type")) == "CE":
        settings["train_neg_sample_args"] = None
    return settings


def recbole_default(model: str, name: str) -> Any:
    """What RecBole uses for a setting left unset: `model`'s own default, else the overall one
    (properties/overall.yaml, e.g. epochs 300, stopping_step 10)."""
    own = yaml.safe_load((recbole_dir() / "properties" / "model" / f"{model}.yaml").read_text())
    if name in own:
        return own[name]
    return yaml.safe_load((recbole_dir() / "properties" / "overall.yaml").read_text())[name]


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


def run_baseline(
    ours: pd.DataFrame,
    source: Path,
    run: RecBoleModelConfig,
    default_max_len: int,
    seed: int,
    scratch: Path,
    description: str,
    threads: int = 0,
    on_validation: OnValidation | None = None,
    rank_test: bool = True,
) -> tuple[BaselineResult | None, str]:
    """One baseline from our split `ours` (read from `source`) to its test ranks: RecBole's files
    and checkpoints go to the folder `scratch`, which the caller deletes. Returns the result and
    RecBole's log; with `rank_test` False (a hyperparameter search) it only trains, `on_validation`
    sees every validation, and the result is None."""
    write_split_inter(ours, scratch / "data")
    settings = recbole_settings(run, default_max_len, seed, scratch / "data", scratch / "checkpoints")
    log = scratch / "recbole.log"
    with recbole_session(log, description, threads) as bar:
        prepared = prepare(run, settings)
        bar.expect(prepared.config["epochs"])
        check_same_split(ours, recbole_split(prepared), source)
        if rank_test:
            result = train_and_rank(prepared, run, ours["user_id"], on_validation)
        else:
            train_best(prepared, on_validation)
            result = None
    return result, log.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Trained:
    """A RecBole model holding its best validation epoch's weights, and how its training went."""

    model: torch.nn.Module
    trainer: Any
    seconds: float
    best_epoch: int  # 1-based
    interrupted: bool


def train_best(prepared: Prepared, on_validation: OnValidation | None = None) -> Trained:
    """Train with early stopping on validation NDCG@10 (or until `on_validation` says stop) and
    reload the best epoch."""
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

    def validated(epoch_index: int, score: float) -> None:
        # RecBole calls this before it acts on its own early stop, which then ends training anyway.
        stopping = trainer.cur_step > trainer.stopping_step
        seen = Validation(epoch_index + 1, float(score), time.perf_counter() - started, trainer.cur_step == 0)
        if on_validation is not None and on_validation(seen) and not stopping:
            raise _Interrupted

    try:
        trainer.fit(prepared.train, prepared.valid, saved=True, show_progress=True, callback_fn=validated)
        interrupted = False
    except _Interrupted:
        interrupted = True
    seconds = time.perf_counter() - started
    best = load_checkpoint(Path(trainer.saved_model_file))
    model.load_state_dict(best["state_dict"])
    model.load_other_parameter(best.get("other_parameter"))
    # The checkpoint RecBole keeps is the best validation's, and records its 0-based epoch.
    return Trained(model, trainer, seconds, best["epoch"] + 1, interrupted)


def train_and_rank(
    prepared: Prepared, run: RecBoleModelConfig, users: pd.Series, on_validation: OnValidation | None = None
) -> BaselineResult:
    """Train (`train_best`), then rank every test user with the best epoch."""
    trained = train_best(prepared, on_validation)
    ranks = test_ranks(trained.model, prepared)
    if set(ranks["user_id"]) != set(users):
        raise DataError("RecBole ranked other test users than the split holds; rerun the split stage")
    ordered = ranks.set_index("user_id").loc[users.to_numpy(dtype=str)].reset_index()
    last_epoch, stopped_early = training_extent(trained.trainer)
    return BaselineResult(ordered, resolved_settings(prepared.config, run), trained.seconds, trained.best_epoch,
                          last_epoch, stopped_early, trained.interrupted)


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
