"""The official DiffuRec code in the device lab: its printout read into a ledger record
(benchmarks/device/official_log.py), and a queued run of it, finished and cut by the budget
(benchmarks/device/runners.py), on a small published-format pickle on the CPU."""

from __future__ import annotations

import contextlib
import os
import pickle
from pathlib import Path

import pytest

from device import official_log, prepare
from device.experiments import Experiment, Run
from device.ledger import PACKING_S
from tests.device_support import METRICS, inputs, invoke, ledger_files, run_records

# Printed as trainer.model_train prints (its print calls, verbatim formats), for 5 epochs with
# --eval_interval 2: validations after its epochs 2 (an improvement) and 4 (none), then the test.
OFFICIAL_OUTPUT = """Namespace(dataset='amazon_beauty', log_file='log/', random_seed=0, epochs=5, eval_interval=2)
Epoch: 0
[0/257] Loss: 9.4312
[52/257] Loss: 9.3100
loss in epoch 0: 9.2012
Epoch: 1
[0/257] Loss: 9.0001
loss in epoch 1: 8.9001
Epoch: 2
[0/257] Loss: 8.8001
loss in epoch 2: 8.7001
start predicting:  2026-11-30 12:00:00.123456
{'Best_HR@5': np.float64(3.9), 'Best_NDCG@5': np.float64(2.5), 'Best_HR@10': np.float64(6.0), 'Best_NDCG@10': np.float64(3.2), 'Best_HR@20': np.float64(8.8), 'Best_NDCG@20': np.float64(3.9)}
{'Best_epoch_HR@5': 2, 'Best_epoch_NDCG@5': 2, 'Best_epoch_HR@10': 2, 'Best_epoch_NDCG@10': 2, 'Best_epoch_HR@20': 2, 'Best_epoch_NDCG@20': 2}
Epoch: 3
loss in epoch 3: 8.6001
Epoch: 4
loss in epoch 4: 8.5001
start predicting:  2026-11-30 12:00:30.123456
Test------------------------------------------------------
{'HR@5': np.float64(2.95), 'NDCG@5': np.float64(1.9), 'HR@10': np.float64(4.5), 'NDCG@10': np.float64(2.4), 'HR@20': np.float64(6.6), 'NDCG@20': np.float64(2.93)}
Best Eval---------------------------------------------------------
{'Best_HR@5': np.float64(3.9), 'Best_NDCG@5': np.float64(2.5), 'Best_HR@10': np.float64(6.0), 'Best_NDCG@10': np.float64(3.2), 'Best_HR@20': np.float64(8.8), 'Best_NDCG@20': np.float64(3.9)}
{'Best_epoch_HR@5': 2, 'Best_epoch_NDCG@5': 2, 'Best_epoch_HR@10': 2, 'Best_epoch_NDCG@10': 2, 'Best_epoch_HR@20': 2, 'Best_epoch_NDCG@20': 2}
Namespace(dataset='amazon_beauty', log_file='log/', random_seed=0, epochs=5, eval_interval=2, item_num=12101)
"""


def test_the_official_printout_is_read_as_fractions_and_epochs_from_one():
    lines = [(float(i), text) for i, text in enumerate(OFFICIAL_OUTPUT.splitlines())]
    parsed = official_log.parse_official(lines)
    assert [e["epoch"] for e in parsed["epochs"]] == [1, 2, 3, 4, 5]
    assert parsed["epochs"][0] == {"epoch": 1, "loss": 9.2012, "train_s": 3.0}
    assert parsed["epochs_finished"] == 5
    first, second = parsed["validations"]
    assert first["epoch"] == 3 and first["improved"] is True
    assert first["valid"] == {"HR@5": 0.039, "NDCG@5": 0.025, "HR@10": 0.06, "NDCG@10": 0.032, "HR@20": 0.088,
                              "NDCG@20": 0.039}
    assert second == {"epoch": 5, "improved": False}
    assert parsed["test"] == {"HR@5": 0.0295, "NDCG@5": 0.019, "HR@10": 0.045, "NDCG@10": 0.024, "HR@20": 0.066,
                              "NDCG@20": 0.0293}
    assert parsed["best_valid"] == first["valid"]
    assert parsed["best_epochs"] == dict.fromkeys(METRICS, 3)
    assert parsed["best_epoch"] == 3
    # Lines arrive one second apart: "Epoch: 0" is line 1; each validation lasts to the next line.
    assert parsed["timing"] == {"setup_s": 1.0, "epoch_s": 2.0, "valid_s": 1.0, "test_s": 1.0}
    # NumPy before 2 printed plain floats: the same reading.
    plain = [(at, official_log.NUMPY_SCALAR.sub(r"\1", text)) for at, text in lines]
    assert plain[12][1].startswith("{'Best_HR@5': 3.9, ") and official_log.parse_official(plain) == parsed
    # Cut during epoch 4 (0-based 3): three epochs and one validation, no test.
    cut = official_log.parse_official(lines[:15])
    assert cut["epochs_finished"] == 3 and cut["test"] is None and len(cut["validations"]) == 1


@pytest.mark.skipif(not (prepare.ANCHORS / "src" / "main.py").is_file(),
                    reason=f"official DiffuRec anchor {prepare.ANCHORS} absent")
def test_the_official_code_runs_in_a_copy_and_its_printed_metrics_are_recorded(tmp_path, monkeypatch):
    anchors = prepare.copy_anchors(prepare.ANCHORS, tmp_path / "anchors" / "diffurec-official")
    # A small published-format pickle (its topk(100) needs at least 100 items): 40 users on a cycle.
    n_items, users = 120, range(40)
    walks = {u: [(3 * u + i) % n_items + 1 for i in range(8)] for u in users}
    pickle.dump({"train": {u: w[:-2] for u, w in walks.items()}, "val": {u: [w[-2]] for u, w in walks.items()},
                 "test": {u: [w[-1]] for u, w in walks.items()}, "umap": {str(u): u for u in users},
                 "smap": {str(i): i for i in range(1, n_items + 1)}},
                (anchors / "datasets" / "data" / "amazon_beauty" / "dataset.pkl").open("wb"))
    args = ("--dataset", "amazon_beauty", "--device", "cpu", "--random_seed", "0", "--epochs", "3",
            "--eval_interval", "1", "--hidden_size", "16", "--num_blocks", "1", "--max_len", "10", "--batch_size", "64")
    monkeypatch.setattr("device.experiments.QUEUE", (Experiment("E2", "q", (Run("official-code", kind="official", args=args),)),))
    split, _ = inputs(tmp_path, epochs=1)
    out = tmp_path / "out"
    output = invoke("run", "--out", out, "--splits", split.parent, "--anchors", anchors, "--ledger", tmp_path / "none",
                    "--workdir", tmp_path / "work")
    (run,) = run_records(ledger_files(out)[0]).values()
    assert run["status"] == "done" and run["settled"] and run["epochs_finished"] == 3
    assert [p["epoch"] for p in run["validations"]] == [2, 3]
    assert run["command"] == "main.py " + " ".join(args)
    printed = output.splitlines()[output.splitlines().index("[official] Test------------------------------------------------------") + 1]
    assert printed.startswith("[official] {'HR@5': ")
    percent = official_log.dict_line(printed.removeprefix("[official] "))
    assert run["test"] == {key: round(float(value) / 100, 6) for key, value in percent.items()}
    assert set(run["best_valid"]) == set(METRICS) and run["best_epoch"] in (2, 3)
    assert run["timing"]["epoch_s"] > 0 and run["timing"]["test_s"] >= 0
    # It ran in the copy, which got the official code's log.
    assert list((tmp_path / "work" / "E2-official-code" / "diffurec-official" / "src" / "log").rglob("*.log"))

    # Cut by the budget: its finished epochs are kept, and its process is gone with the call.
    # Endless: many epochs, and a patience its early stopping cannot reach on this tiny data.
    endless = (*(a if a != "3" else "100000" for a in args), "--patience", "100000")
    monkeypatch.setattr("device.experiments.QUEUE", (Experiment("E2", "q", (Run("official-code", kind="official", args=endless),)),))
    cut_out = tmp_path / "cut"
    invoke("run", "--out", cut_out, "--splits", split.parent, "--anchors", anchors, "--ledger", tmp_path / "none",
           "--workdir", tmp_path / "cut-work", "--budget", PACKING_S + 10)
    (cut,) = run_records(ledger_files(cut_out)[0]).values()
    assert cut["status"] == "cut" and cut["test"] is None and not cut["settled"]
    assert cut["epochs_finished"] >= 1 and [e["epoch"] for e in cut["epochs"]] == list(range(1, cut["epochs_finished"] + 1))
    src = (tmp_path / "cut-work" / "E2-official-code" / "diffurec-official" / "src").resolve()
    alive = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")) == src:
                alive.append(proc.name)
    assert alive == []
