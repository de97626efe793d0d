import dataclasses
import io
import math

import numpy as np
import pytest
import torch

from diffurec.errors import ConfigError, TrainingError
from diffurec.sequences import encode
from diffurec.train import TrainState, build_model, fit, improvement, validates_after, validation_rows
from synthetic import cycle_split, tiny_config

DATA = encode(cycle_split(60, 20, seed=2))


def numbers(history):
    """Every per-epoch number except the wall-clock times."""
    return [(row["epoch"], row["loss"], row["lr"], row["valid"]) for row in history]


def round_trip(state: TrainState) -> TrainState:
    """Through torch.save / torch.load(weights_only=True), as the pipeline stores it."""
    buffer = io.BytesIO()
    torch.save(state.as_dict(), buffer)
    buffer.seek(0)
    return TrainState.from_dict(torch.load(buffer, weights_only=True))


def train(config, seed=0, variant="v2", **kwargs):
    model = build_model(DATA.n_items, config.model, variant, seed)
    return model, fit(model, DATA, config, seed, progress=False, **kwargs)


def test_same_seed_gives_bit_identical_runs_on_cpu_and_another_seed_does_not():
    config = tiny_config(epochs=2)
    model_a, result_a = train(config)
    model_b, result_b = train(config)
    assert numbers(result_a.history) == numbers(result_b.history)
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(a, b), name
    _, result_c = train(config, seed=1)
    assert numbers(result_c.history) != numbers(result_a.history)


def test_resume_from_a_saved_mid_run_state_ends_like_an_uninterrupted_run():
    config = tiny_config(epochs=3, lr_decay_epoch=2, lr_decay_gamma=0.5)
    states = []
    model, result = train(config, on_epoch_end=lambda state: states.append(round_trip(state)))
    assert [state.epoch for state in states] == [1, 2, 3]
    # The resumed model starts from other weights: everything must come from the state.
    resumed_model = build_model(DATA.n_items, config.model, "v2", seed=9)
    resumed = fit(resumed_model, DATA, config, 0, resume=states[0], progress=False)
    assert numbers(resumed.history) == numbers(result.history)
    assert resumed.best_epoch == result.best_epoch
    for (name, a), b in zip(model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name
    assert [row["lr"] for row in result.history] == [0.005, 0.005, 0.0025]


def test_best_epoch_weights_are_kept_and_validation_follows_eval_every():
    config = tiny_config(epochs=3, eval_every=2)
    states = []
    model, result = train(config, variant="baseline", on_epoch_end=states.append)
    validated = [row["epoch"] for row in result.history if row["valid"] is not None]
    assert validated == [2, 3]
    ndcg = {row["epoch"]: row["valid"]["NDCG@10"] for row in result.history if row["valid"]}
    assert result.best_epoch == max(validated, key=lambda epoch: (ndcg[epoch], -epoch))
    assert result.best_metrics["NDCG@10"] == ndcg[result.best_epoch]
    assert list(result.best_metrics) == ["HR@5", "NDCG@5", "HR@10", "NDCG@10", "HR@20", "NDCG@20"]
    best = states[result.best_epoch - 1].model
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, best[name]), name
    assert 0 < result.seconds_to_best <= result.seconds_total
    assert result.seconds_total == pytest.approx(sum(r["train_seconds"] + r["valid_seconds"] for r in result.history))


def test_resume_past_the_configured_epochs_is_refused():
    states = []
    train(tiny_config(epochs=2), variant="baseline", on_epoch_end=states.append)
    model = build_model(DATA.n_items, tiny_config().model, "baseline", 0)
    with pytest.raises(ConfigError, match="past train.epochs"):
        fit(model, DATA, tiny_config(epochs=1), 0, resume=states[-1], progress=False)


def test_validation_sample_is_fixed_sorted_and_all_users_when_zero():
    assert np.array_equal(validation_rows(50, 0), np.arange(50))
    assert np.array_equal(validation_rows(50, 80), np.arange(50))
    sample = validation_rows(50, 10)
    assert len(set(sample.tolist())) == 10 and np.all(np.diff(sample) > 0)
    assert np.array_equal(sample, validation_rows(50, 10))


def test_a_diverged_loss_stops_training_with_the_param_to_change():
    config = tiny_config(epochs=2)
    model = build_model(DATA.n_items, config.model, "v1", 0)
    with torch.no_grad():
        model.item_embeddings[3] = float("nan")
    # Anomaly mode (RecBole's import turns it on process-wide) would raise inside backward first.
    with torch.autograd.set_detect_anomaly(False), pytest.raises(TrainingError, match=r"training diverged: the mean loss of epoch 1 is nan; lower train.lr"):
        fit(model, DATA, config, 0, progress=False)


def test_bf16_precision_trains_repeatably_and_differs_from_fp32():
    # The CUDA speed path's numerics, exercised on the CPU: same seed, same numbers; not fp32's.
    fp32 = tiny_config(epochs=1)
    bf16 = dataclasses.replace(fp32, train=dataclasses.replace(fp32.train, precision="bf16"),
                               eval=dataclasses.replace(fp32.eval, precision="bf16"))
    _, first = train(bf16)
    _, again = train(bf16)
    _, full = train(fp32)
    assert numbers(first.history) == numbers(again.history)
    assert math.isfinite(first.history[0]["loss"])
    assert first.history[0]["loss"] != full.history[0]["loss"]


def test_precision_names_and_what_auto_means_on_the_cpu():
    from diffurec.device import autocast, uses_bf16

    assert [uses_bf16(device, p) for device in ("cuda", "cpu") for p in ("auto", "fp32", "bf16")] == [
        True, False, True, False, False, True]

    with pytest.raises(ConfigError, match="unknown precision 'fp16'"):
        autocast(torch.device("cpu"), "fp16")
    # "auto" means bf16 on CUDA only: on the CPU it keeps float32 (and bit-for-bit repeatability).
    with autocast(torch.device("cpu"), "auto"):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(torch.device("cpu"), "bf16"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


def test_validation_follows_eval_every_and_eval_offset_and_always_closes_the_run():
    def validated(**settings):
        config = tiny_config(**settings).train
        return [epoch for epoch in range(1, config.epochs + 1) if validates_after(epoch, config)]

    assert validated(epochs=7, eval_every=3) == [3, 6, 7]
    # The official code: its 0-based epochs 20, 40, ... skipping 0, i.e. our epochs 21, 41, ...
    assert validated(epochs=90, eval_every=20, eval_offset=1) == [21, 41, 61, 81, 90]
    assert validated(epochs=11, eval_every=10, eval_offset=1) == [11]


def test_selection_any_keeps_the_last_validation_at_which_any_metric_beat_its_own_best():
    history = [
        {"HR@10": 0.10, "NDCG@10": 0.050},
        {"HR@10": 0.12, "NDCG@10": 0.040},  # HR@10 improves: kept under "any", not under "ndcg10"
        {"HR@10": 0.11, "NDCG@10": 0.045},  # neither beats its own best
        {"HR@10": 0.1200004, "NDCG@10": 0.049},  # HR@10 is higher, but not at 4 decimals of percent
    ]
    for selection, expected in (("any", [True, True, False, False]), ("ndcg10", [True, False, False, False])):
        best, bests, verdicts = None, {}, []
        for metrics in history:
            better, bests = improvement(metrics, best, bests, selection)
            best = metrics if better else best
            verdicts.append(better)
        assert verdicts == expected, selection


def test_early_stopping_stops_after_patience_validations_without_improvement_and_stays_stopped():
    # lr 0 leaves the weights alone: validation never improves after the first epoch.
    config = tiny_config(epochs=10, lr=1e-12, patience=2, selection="any")
    states = []
    _, result = train(config, on_epoch_end=states.append)
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert result.stopped_early and result.best_epoch == 1
    assert [state.stale_validations for state in states] == [0, 1, 2]
    # A stopped run taken up again does not train on.
    model = build_model(DATA.n_items, config.model, "v2", 0)
    resumed = fit(model, DATA, config, 0, resume=round_trip(states[-1]), progress=False)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    _, unlimited = train(dataclasses.replace(config, train=dataclasses.replace(config.train, patience=0, epochs=4)))
    assert len(unlimited.history) == 4 and not unlimited.stopped_early


def test_shuffled_batches_train_repeatably_and_differ_from_grouped_ones():
    shuffled = tiny_config(epochs=1, batching="shuffled")
    _, first = train(shuffled)
    _, again = train(shuffled)
    _, grouped = train(tiny_config(epochs=1))
    assert numbers(first.history) == numbers(again.history)
    assert first.history[0]["loss"] != grouped.history[0]["loss"]
