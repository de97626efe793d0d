"""No model computes through MKL's vector math, whose bits may depend on the processor's maker
(`pipeline.cpu_pins.MKL_VECTOR_MATH`): every ATen operation of a training step and of the reverse
process of each of our variants, and of a training step and the ranking of each RecBole baseline,
is recorded and checked against the list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from data_stage_support import ML100K_INTER
from diffurec.config import RecBoleModelConfig
from diffurec.inference import rank_targets
from diffurec.preprocess import preprocess
from diffurec.sequences import encode, evaluation_windows, training_windows
from diffurec.split import leave_one_out
from diffurec.train import build_model
from diffurec.variants import VARIANTS
from pipeline.cpu_pins import MKL_VECTOR_MATH
from pipeline.files.recbole_inter import read_inter
from pipeline.recbole_compat import recbole_session
from pipeline.recbole_runner import prepare, recbole_settings, write_split_inter
from synthetic import cycle_split, tiny_config


class Operations(TorchDispatchMode):
    """Records the name of every ATen operation called under it, as `MKL_VECTOR_MATH` names them:
    in-place and foreach forms under their function's name, `x ** 0.5` as ATen's sqrt."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__.removeprefix("_foreach_").rstrip("_")
        if name == "pow" and len(args) > 1 and args[1] in (0.5, -0.5):
            name = "sqrt"
        self.names.add(name)
        return func(*args, **(kwargs or {}))

    def through_vector_math(self) -> set[str]:
        return self.names & MKL_VECTOR_MATH


def test_the_recorder_sees_a_function_of_the_vector_math_list():
    with Operations() as recorded:
        torch.exp(torch.ones(4))
        torch.ones(4).add_(1) ** 0.5
    assert recorded.through_vector_math() == {"exp", "sqrt"}
    assert "add" in recorded.names


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_training_step_and_the_reverse_process_stay_off_the_vector_math(variant):
    config = tiny_config()
    data = encode(cycle_split(40, 25, seed=1))
    models = [build_model(data.n_items, config.model, variant, seed) for seed in (0, 1)]
    optimizer = torch.optim.Adam(models[0].parameters(), lr=0.005, weight_decay=1e-4, fused=True)
    batch = next(training_windows(data, config.model.max_len).batches(32, np.random.default_rng(0)))
    with Operations() as training:
        loss = models[0](batch.histories, batch.targets)
        loss.backward()
        optimizer.step()
    windows = evaluation_windows(data, "valid", config.model.max_len)
    with Operations() as ranking:
        # Two members: Algorithm 3's average of distributions (log-sum-exp) is exercised too.
        rank_targets([(model.eval(), seed) for seed, model in enumerate(models)], windows, batch_size=64,
                     progress=False)
    assert "mm" in training.names and "nll_loss_backward" in training.names
    assert training.through_vector_math() == set()
    assert ranking.through_vector_math() == set()


@pytest.fixture(scope="module")
def ml100k_split() -> pd.DataFrame:
    return leave_one_out(preprocess(read_inter(ML100K_INTER), 5, 5))


BASELINES = {
    "GRU4Rec": RecBoleModelConfig(model="GRU4Rec", embedding_size=16, hidden_size=16),
    "SASRec": RecBoleModelConfig(model="SASRec", loss_type="BPR", hidden_size=16, inner_size=32),
    "SASRec-CE": RecBoleModelConfig(model="SASRec", loss_type="CE", hidden_size=16, inner_size=32),
    "BERT4Rec": RecBoleModelConfig(model="BERT4Rec", hidden_size=16, inner_size=32),
}
# GRU4Rec's recurrent cell is ATen's (`aten::gru`, C++), whose candidate state calls tanh: it
# cannot be rerouted from Python. Measured: its rank table is byte-identical on an Intel (AVX-512)
# and an AMD (AVX2) machine under the pins (docs/benchmarks.md, "The CPU pins").
ATEN_OWN = {"GRU4Rec": {"tanh"}}


@pytest.mark.parametrize("name", list(BASELINES))
def test_a_recbole_baselines_training_step_and_ranking_stay_off_the_vector_math(tmp_path, ml100k_split, name):
    from recbole.utils import get_model, get_trainer

    run = BASELINES[name]
    write_split_inter(ml100k_split, tmp_path / "data")
    settings = recbole_settings(run, 8, 0, tmp_path / "data", tmp_path / "checkpoints")
    with recbole_session(tmp_path / "recbole.log", name):
        prepared = prepare(run, settings)
        config = prepared.config
        model = get_model(config["model"])(config, prepared.train._dataset)
        torch.autograd.set_detect_anomaly(False)
        trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
        batch = next(iter(prepared.train))
        with Operations() as training:
            loss = model.calculate_loss(batch)
            loss.backward()
            trainer.optimizer.step()
        interaction = next(iter(prepared.test))[0]
        with Operations() as ranking, torch.no_grad():
            model.eval()
            model.full_sort_predict(interaction)
    assert "mm" in training.names or "addmm" in training.names
    assert training.through_vector_math() == ATEN_OWN.get(name, set())
    assert ranking.through_vector_math() <= ATEN_OWN.get(name, set())
