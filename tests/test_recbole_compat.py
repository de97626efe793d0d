"""RecBole 1.2.1 works with the numpy, torch and pandas installed here, and leaves no trace behind.

These tests train a real (tiny) RecBole model, so they fail as soon as an upgrade breaks RecBole
again; the shim's fixes are described in pipeline/recbole_compat.py.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from data_stage_support import ML100K_INTER
from diffurec.config import RECBOLE_MODEL_SETTINGS, RecBoleModelConfig
from diffurec.metrics import summarize
from diffurec.preprocess import preprocess
from diffurec.split import leave_one_out
from pipeline.files.recbole_inter import read_inter
from pipeline.recbole_install import recbole_dir
from pipeline.recbole_compat import build_config, load_checkpoint, recbole_session
from pipeline.recbole_runner import (
    RECBOLE_DATASET,
    prepare,
    recbole_settings,
    run_baseline,
    train_and_rank,
    write_split_inter,
)

REPO = Path(__file__).resolve().parents[1]
TINY = {"epochs": 2, "max_len": 5, "hidden_size": 8, "inner_size": 16, "train_batch_size": 512}


@pytest.fixture(scope="module")
def small_split():
    """The first 80 users of ml-100k (5-core, leave-one-out): a few thousand training samples."""
    return leave_one_out(preprocess(read_inter(ML100K_INTER), 5, 5)).head(80).reset_index(drop=True)


def test_a_recbole_model_trains_and_ranks_without_writing_outside_its_folders(tmp_path, monkeypatch, small_split):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    run = RecBoleModelConfig(model="SASRec", loss_type="CE", **TINY)
    write_split_inter(small_split, tmp_path / "data")
    settings = recbole_settings(run, 50, 0, tmp_path / "data", tmp_path / "checkpoints")
    with recbole_session(tmp_path / "recbole.log", "test", threads=1) as bar:
        prepared = prepare(run, settings)
        bar.expect(prepared.config["epochs"])
        result = train_and_rank(prepared, run, small_split["user_id"])
        assert not torch.is_anomaly_enabled()  # RecBole's import turns it on; it slows training
        # RecBole's own evaluation of the reloaded best model (numpy 2 in its metrics code).
        from recbole.utils import get_model, get_trainer

        model = get_model("SASRec")(prepared.config, prepared.train._dataset)
        trainer = get_trainer(prepared.config["MODEL_TYPE"], "SASRec")(prepared.config, model)
        checkpoint = next((tmp_path / "checkpoints").glob("SASRec-*.pth"))
        model.load_state_dict(load_checkpoint(checkpoint)["state_dict"])
        theirs = trainer.evaluate(prepared.test, load_best_model=False)
    ours = summarize(result.ranks["rank"].to_numpy(), (10,))
    assert theirs["hit@10"] == pytest.approx(ours["HR@10"], abs=1e-4)
    assert theirs["ndcg@10"] == pytest.approx(ours["NDCG@10"], abs=1e-4)
    assert list(cwd.iterdir()) == []  # no ./log, ./log_tensorboard or ./saved
    log = (tmp_path / "recbole.log").read_text()
    assert "epoch 1 training" in log and "\x1b[" not in log
    assert result.settings["loss_type"] == "CE" and result.settings["max_len"] == 5


def test_the_caller_can_stop_training_after_a_validation_and_the_best_epoch_still_ranks(tmp_path, small_split):
    run = RecBoleModelConfig(model="SASRec", loss_type="CE", **{**TINY, "epochs": 50, "stopping_step": 50})
    seen = []

    def stop_at_epoch_3(validation):
        seen.append(validation)
        return validation.epoch == 3

    result, log = run_baseline(small_split, tmp_path / "split.parquet", run, 50, 0, tmp_path, "test", 1, stop_at_epoch_3)
    assert [v.epoch for v in seen] == [1, 2, 3] and seen[0].improved
    assert 0 < seen[0].seconds < seen[1].seconds < seen[2].seconds <= result.train_seconds
    assert result.interrupted and not result.stopped_early and result.last_epoch == 3
    # The kept checkpoint is the last validation that improved, and it ranks every test user.
    assert result.best_epoch == max(v.epoch for v in seen if v.improved)
    assert "epoch 2 evaluating" in log and "epoch 3 training" not in log  # RecBole counts from 0
    summary = result.summary((5, 10), None)
    assert summary["users"] == len(small_split) and summary["last_epoch"] == 3 and summary["stopped_early"] is False
    assert summary["NDCG@10"] == round(summarize(result.ranks["rank"].to_numpy(), (10,))["NDCG@10"], 6)


def test_session_restores_logging_threads_and_recbole(tmp_path):
    import recbole.trainer.trainer as recbole_trainer

    root = logging.getLogger()
    before = (list(root.handlers), root.level, torch.get_num_threads(), recbole_trainer.tqdm)
    with recbole_session(tmp_path / "log", "test", threads=1):
        assert torch.get_num_threads() == 1
        assert recbole_trainer.tqdm is not before[3]
    assert (list(root.handlers), root.level, torch.get_num_threads(), recbole_trainer.tqdm) == before


def test_recbole_config_ignores_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pytest", "--epochs=7", "--MAX_ITEM_LIST_LENGTH=3"])
    (tmp_path / RECBOLE_DATASET).mkdir()
    settings = {"data_path": str(tmp_path), "epochs": 4, "train_neg_sample_args": None}
    config = build_config("GRU4Rec", RECBOLE_DATASET, settings)
    assert config["epochs"] == 4
    assert config["MAX_ITEM_LIST_LENGTH"] == 50


@pytest.mark.parametrize("model", sorted(RECBOLE_MODEL_SETTINGS))
def test_settings_params_may_set_are_recbole_settings_of_that_model(model):
    defaults = yaml.safe_load((recbole_dir() / "properties" / "model" / f"{model}.yaml").read_text())
    assert set(RECBOLE_MODEL_SETTINGS[model]) <= set(defaults)


def test_the_package_and_the_cli_import_without_recbole():
    # GPU machines run the DiffuRec stages without RecBole installed.
    code = "import sys; sys.modules['recbole'] = None; import diffurec.report.comparison, diffurec.config, pipeline.stages; pipeline.stages.register()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
