"""train.compile / eval.compile: the compiled training step and reverse process give the eager
path's numbers on the CPU (inductor's C++ kernels) to float32 rounding.

Compiling a network's training step takes 40-100 s on a 2-core machine (C++ builds, cached on
disk by inductor: a second run takes seconds), so the tests compile one network once and share
its graphs: the paper's network, which the speed targets run (docs/benchmarks.md), as v2, whose
training step draws t, the one-step x0, the noise, lambda and every dropout mask (the
cross-attention's too), on batches of the widths shuffled batching gives (a grouped batch of
width 1 would be compiled apart).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch._inductor.cpp_builder
import torch._inductor.exc

import diffurec.inference
import diffurec.train
from diffurec.compiled import compile_step, compiles
from diffurec.config import Config
from diffurec.errors import ConfigError
from diffurec.inference import rank_targets, reconstruct_users
from diffurec.sequences import encode, evaluation_windows, training_windows
from diffurec.train import build_model, fit
from tests.synthetic import cycle_split, tiny_config

CPU = torch.device("cpu")
VARIANT = "v2"

# Batch sizes that equal no dimension of the tiny network (hidden 32, head width 16, max_len 10,
# 32 steps, 13 items): torch would tie equal sizes together and compile again when they part.
TRAIN_BATCH, EVAL_BATCH = 24, 20


def _cxx() -> str | None:
    try:
        return torch._inductor.cpp_builder.get_cpp_compiler()
    except torch._inductor.exc.InvalidCxxCompiler:
        return None


needs_cxx = pytest.mark.skipif(_cxx() is None, reason="no C++ compiler: inductor cannot build its CPU kernels")


def _config(setting: str) -> Config:
    config = tiny_config(epochs=2, batch_size=TRAIN_BATCH, batching="shuffled", compile=setting)
    return dataclasses.replace(config, eval=dataclasses.replace(config.eval, batch_size=EVAL_BATCH, compile=setting))


@pytest.fixture(scope="module")
def data():
    return encode(cycle_split(n_users=40, n_items=12, seed=0))


def test_auto_compiles_on_cuda_only_and_a_bad_setting_names_the_choices():
    assert [compiles(setting, CPU) for setting in ("eager", "auto", "compiled")] == [False, False, True]
    cuda = torch.device("cuda")
    assert [compiles(setting, cuda) for setting in ("eager", "auto", "compiled")] == [False, True, True]
    with pytest.raises(ConfigError, match=r"unknown compile setting 'inductor'; choose from \['auto', 'eager'"):
        compiles("inductor", CPU)


def _loss_and_gradients(model, loss_of, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    torch.manual_seed(7)
    model.zero_grad(set_to_none=True)
    loss = loss_of(batch.histories, batch.targets)
    loss.backward()
    return loss.detach(), {name: parameter.grad.clone() for name, parameter in model.named_parameters()
                           if parameter.grad is not None}


@needs_cxx
def test_the_compiled_training_step_gives_eager_loss_and_gradients(data):
    config = _config("compiled")
    model = build_model(data.n_items, config.model, VARIANT, seed=0).train()
    compiled = compile_step(model, CPU)
    windows = training_windows(data, config.model.max_len)
    batches = list(windows.batches(TRAIN_BATCH, np.random.default_rng(0), config.train.batching))
    # One graph serves batches of several sizes and widths.
    assert len({batch.histories.shape for batch in batches}) > 2
    for batch in batches:
        eager_loss, eager_grads = _loss_and_gradients(model, model, batch)
        loss, grads = _loss_and_gradients(model, compiled, batch)
        torch.testing.assert_close(loss, eager_loss, rtol=1e-5, atol=1e-6)
        assert grads.keys() == eager_grads.keys()
        for name, grad in grads.items():
            torch.testing.assert_close(grad, eager_grads[name], rtol=1e-4, atol=1e-6, msg=name)


@needs_cxx
def test_the_compiled_reverse_process_gives_eager_x0_and_ranks(data):
    config = _config("compiled")
    model = build_model(data.n_items, config.model, VARIANT, seed=0)
    windows = evaluation_windows(data, "test", config.model.max_len)
    runs = {
        setting: (reconstruct_users(model, windows, batch_size=EVAL_BATCH, seed=3, compile=setting, progress=False),
                  rank_targets(model, windows, batch_size=EVAL_BATCH, seed=3, compile=setting, progress=False))
        for setting in ("eager", "compiled")
    }
    (eager_x0, eager_ranks), (x0, ranks) = runs["eager"], runs["compiled"]
    np.testing.assert_allclose(x0, eager_x0, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ranks, eager_ranks)


@needs_cxx
def test_a_fit_with_both_switches_on_trains_and_validates_as_the_eager_fit(data, monkeypatch):
    compiled_steps = []

    def recording(step, device):
        compiled_steps.append(getattr(step, "__name__", type(step).__name__))
        return compile_step(step, device)

    monkeypatch.setattr(diffurec.train, "compile_step", recording)
    monkeypatch.setattr(diffurec.inference, "compile_step", recording)
    results = {}
    for setting in ("eager", "compiled"):
        config = _config(setting)
        model = build_model(data.n_items, config.model, VARIANT, seed=0)
        results[setting] = fit(model, data, config, seed=0, progress=False)
    # The switches reached both loops: the model's loss once, the denoiser at each validation.
    assert compiled_steps == ["DiffuRec", "denoise", "denoise"]
    eager, compiled = results["eager"].history, results["compiled"].history
    assert [row["epoch"] for row in compiled] == [1, 2]
    assert [row["loss"] for row in compiled] == pytest.approx([row["loss"] for row in eager], rel=1e-5)
    assert [row["valid"] for row in compiled] == [row["valid"] for row in eager]
