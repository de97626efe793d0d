"""The baselines stage: RecBole rebuilds exactly our split, and a run is complete and deterministic."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from data_stage_support import ML100K_INTER, MIRROR, assert_refused, needs_mirror, run_cli, write_params
from diffurec.config import RecBoleModelConfig
from diffurec.errors import DataError
from diffurec.metrics import summarize
from diffurec.preprocess import preprocess
from diffurec.split import leave_one_out
from pipeline.files.recbole_inter import read_inter
from pipeline.recbole_compat import recbole_session
from pipeline.recbole_runner import (
    check_same_split,
    prepare,
    recbole_settings,
    recbole_split,
    training_extent,
    write_split_inter,
)


@pytest.fixture(scope="module")
def ml100k_split() -> pd.DataFrame:
    return leave_one_out(preprocess(read_inter(ML100K_INTER), 5, 5))


def recbole_view(split: pd.DataFrame, folder, max_len: int) -> pd.DataFrame:
    """The split as RecBole builds it from our atomic file (no training)."""
    run = RecBoleModelConfig(model="SASRec", loss_type="CE", max_len=max_len)
    write_split_inter(split, folder / "data")
    with recbole_session(folder / "recbole.log", "split"):
        return recbole_split(prepare(run, recbole_settings(run, max_len, 0, folder / "data", folder / "ckpt")))


def assert_same_split(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    ours = ours.sort_values("user_id", kind="stable").reset_index(drop=True)
    assert theirs["user_id"].tolist() == ours["user_id"].tolist()
    assert theirs["valid"].tolist() == ours["valid"].tolist()
    assert theirs["test"].tolist() == ours["test"].tolist()
    assert theirs["train"].tolist() == ours["train"].map(list).tolist()


def test_recbole_rebuilds_our_ml100k_split_user_for_user(tmp_path, ml100k_split):
    # max_len 20 is shorter than most ml-100k histories, so truncation is exercised too.
    assert_same_split(ml100k_split, recbole_view(ml100k_split, tmp_path, max_len=20))


@needs_mirror
def test_recbole_rebuilds_our_beauty_split_user_for_user(tmp_path):
    # Beauty's day-resolution timestamps tie often: only our stable order decides its test items.
    params = write_params(tmp_path, mirror=str(MIRROR))
    for args in (
        ("download", "amazon-beauty", "--out", tmp_path / "raw", "--params", params),
        ("preprocess", "amazon-beauty", "--raw", tmp_path / "raw", "--out", tmp_path / "pre.parquet", "--params", params),
        ("split", "amazon-beauty", "--preprocessed", tmp_path / "pre.parquet", "--out", tmp_path / "split.parquet"),
    ):
        code, stderr = run_cli(*args)
        assert code == 0, stderr
    split = pd.read_parquet(tmp_path / "split.parquet")
    assert len(split) == 22363
    assert_same_split(split, recbole_view(split, tmp_path, max_len=50))


def test_a_different_split_is_refused_naming_the_user(tmp_path, ml100k_split):
    split = ml100k_split.head(50).reset_index(drop=True)
    theirs = recbole_view(split, tmp_path, max_len=50)
    swapped = split.copy()
    swapped.loc[7, ["valid", "test"]] = [split.loc[7, "test"], split.loc[7, "valid"]]
    with pytest.raises(DataError, match=f"valid items of user '{split.loc[7, 'user_id']}'"):
        check_same_split(swapped, theirs, tmp_path / "split.parquet")
    with pytest.raises(DataError, match="RecBole built 50 users from it, the split has 49"):
        check_same_split(split.drop(index=3), theirs, tmp_path / "split.parquet")


TINY_RUN = {"model": "GRU4Rec", "epochs": 2, "max_len": 10, "embedding_size": 8, "hidden_size": 8}


def write_baseline_params(tmp_path, **run) -> object:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"baselines": ["tiny"], "recbole": {"threads": 1, "models": {"tiny": run}}}))
    return path


def test_stage_writes_metrics_and_ranks_deterministically(tmp_path, ml100k_split):
    split = ml100k_split.head(60).reset_index(drop=True)
    split.to_parquet(tmp_path / "split.parquet", index=False)
    params = write_baseline_params(tmp_path, **TINY_RUN)
    outputs = []
    for attempt in ("a", "b"):
        out = tmp_path / attempt
        code, stderr = run_cli("baselines", "ml-100k", "tiny", "--split", tmp_path / "split.parquet", "--out", out, "--params", params)
        assert code == 0, stderr
        assert sorted(p.name for p in out.iterdir()) == ["history.tsv", "metrics.json", "ranks.parquet", "recbole.log"]
        outputs.append((json.loads((out / "metrics.json").read_text()), pd.read_parquet(out / "ranks.parquet")))
        # One validation per epoch, with the score RecBole selected the best epoch by.
        history = pd.read_csv(out / "history.tsv", sep="\t")
        assert history["epoch"].tolist() == [1, 2] and list(history.columns) == ["epoch", "valid_NDCG@10", "seconds"]
        best_epoch = json.loads((out / "metrics.json").read_text())["best_epoch"]
        scores = dict(zip(history["epoch"], history["valid_NDCG@10"]))
        assert scores[best_epoch] == history["valid_NDCG@10"].max()
    (metrics, ranks), (metrics_again, ranks_again) = outputs
    assert ranks["user_id"].tolist() == split["user_id"].tolist()
    assert ranks["rank"].dtype == np.int64
    items = len({item for row in split.itertuples() for item in [*row.train, row.valid, row.test]})
    assert ranks["rank"].between(1, items).all()
    assert ranks.equals(ranks_again)
    expected = summarize(ranks["rank"].to_numpy(), (5, 10, 20))
    assert {k: metrics[k] for k in expected} == pytest.approx(expected, abs=1e-6)
    assert metrics["users"] == 60
    assert metrics["settings"]["model"] == "GRU4Rec" and metrics["settings"]["max_len"] == 10
    assert metrics["settings"]["epochs"] == 2 and metrics["settings"]["loss_type"] == "CE"
    # RecBole's default stopping_step (10) never fires in 2 epochs: the budget ended the training.
    assert metrics["last_epoch"] == 2 and metrics["stopped_early"] is False and 1 <= metrics["best_epoch"] <= 2
    del metrics["train_seconds"], metrics_again["train_seconds"]
    assert metrics == metrics_again


def test_stage_refuses_an_unknown_baseline_and_a_missing_split(tmp_path):
    params = write_baseline_params(tmp_path, **TINY_RUN)
    code, stderr = run_cli("baselines", "ml-100k", "SASRec", "--params", params, "--out", tmp_path / "out")
    assert_refused(code, stderr, "no baseline 'SASRec' in recbole.models", "tiny")
    code, stderr = run_cli(
        "baselines", "ml-100k", "tiny", "--params", params, "--split", tmp_path / "none.parquet", "--out", tmp_path / "o"
    )
    assert_refused(code, stderr, "none.parquet")
    assert not (tmp_path / "o").exists()


def test_params_refuse_settings_the_recbole_model_lacks(tmp_path):
    params = write_baseline_params(tmp_path, **TINY_RUN, n_heads=2)
    code, stderr = run_cli("baselines", "ml-100k", "tiny", "--params", params)
    assert_refused(code, stderr, "recbole.models.tiny.n_heads", "GRU4Rec has no such setting")


def test_training_extent_reads_the_fitted_trainer():
    # 0-based epochs 0..4 trained; two validations in a row without a better score, stopping_step 1: stopped.
    stopped = SimpleNamespace(train_loss_dict={e: 1.0 for e in range(5)}, cur_step=2, stopping_step=1)
    assert training_extent(stopped) == (5, True)
    # Ran out of epochs one validation after its best: not stopped.
    ran_out = SimpleNamespace(train_loss_dict={e: 1.0 for e in range(3)}, cur_step=1, stopping_step=1)
    assert training_extent(ran_out) == (3, False)


def test_stage_records_the_best_and_last_epoch_of_an_early_stopped_run(tmp_path, ml100k_split):
    ml100k_split.head(60).reset_index(drop=True).to_parquet(tmp_path / "split.parquet", index=False)
    # A high learning rate on 60 users overfits within a few epochs, and stopping_step 1 stops it soon after.
    params = write_baseline_params(tmp_path, **{**TINY_RUN, "epochs": 8, "stopping_step": 1, "learning_rate": 0.05})
    out = tmp_path / "out"
    code, stderr = run_cli("baselines", "ml-100k", "tiny", "--split", tmp_path / "split.parquet", "--out", out, "--params", params)
    assert code == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    # What RecBole's own log says, its epochs counted from 0: every validation's score, and the
    # epoch of the best one (the last of equal bests) when early stopping ends the training.
    log = (out / "recbole.log").read_text()
    scores = [(int(e), float(v)) for e, v in re.findall(r"epoch (\d+) evaluating \[.*valid_score: ([\d.]+)\]", log)]
    best = max(scores, key=lambda pair: (pair[1], pair[0]))[0]
    finished = re.findall(r"Finished training, best eval result in epoch (\d+)", log)
    assert metrics["stopped_early"] is True and finished == [str(best)]
    assert (metrics["best_epoch"], metrics["last_epoch"]) == (best + 1, scores[-1][0] + 1)
    assert metrics["last_epoch"] < 8
