"""Inference ablations: the respaced reverse process, x_t = 0, the ablation stage and its report,
and the control's one pass as the reference point."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from diffurec.config import ModelConfig
from diffurec.diffusion import ReverseOptions, reverse_noise_scale, reverse_step, sample_reverse
from diffurec.errors import ConfigError, DataError
from diffurec.model import DiffuRec
from diffurec.report.ablation import (
    ONE_PASS,
    SettingRun,
    differences_title,
    plot_table,
    render_ablation,
    setting_differences,
    setting_names,
)
from diffurec.schedule import NoiseSchedule, respaced_timesteps
from pipeline import layout
from pipeline.files.run_results import MeasuredSetting, read_ablation, write_ablation
from tests.data_stage_support import assert_refused, run_cli
from tests.synthetic import cycle_split, tiny_config

SCHEDULE = NoiseSchedule.named("trunc_lin", 32)
FIELDS = ("betas", "alphas", "alpha_bars", "alpha_bars_prev", "posterior_variance", "posterior_coef_x0",
          "posterior_coef_xt")


def _drawing_denoiser(generator: torch.Generator):
    """A denoiser that depends on x_t and t and, like the approximator's lambda, draws first."""
    def denoise(x_t: torch.Tensor, t: int) -> torch.Tensor:
        jitter = torch.randn(x_t.shape, generator=generator)
        return torch.tanh(x_t) * 0.7 + 0.01 * t + 0.001 * jitter

    return denoise


def _plain_algorithm_2(x_T: torch.Tensor, schedule: NoiseSchedule, mode: str, seed: int) -> torch.Tensor:
    """The reverse process over all T steps as it was before respacing existed."""
    generator = torch.Generator().manual_seed(seed)
    denoise = _drawing_denoiser(generator)
    coef_x0 = schedule.posterior_coef_x0.tolist()
    coef_xt = schedule.posterior_coef_xt.tolist()
    scale = reverse_noise_scale(schedule, mode).tolist()
    x = x_T
    for t in reversed(range(schedule.steps)):
        x0_hat = denoise(x, t)
        noise = torch.randn(x.shape, generator=generator) if t > 0 else None
        x = reverse_step(x, x0_hat, coef_x0[t], coef_xt[t], scale[t], noise)
    return x


@pytest.mark.parametrize("mode", ["paper", "posterior", "official"])
def test_respacing_with_every_step_is_the_plain_reverse_process_bit_for_bit(mode):
    full = SCHEDULE.respaced(range(32))
    for name in FIELDS:
        assert torch.equal(getattr(full, name), getattr(SCHEDULE, name)), name
    x_T = torch.randn((16, 8), generator=torch.Generator().manual_seed(1))
    expected = _plain_algorithm_2(x_T, SCHEDULE, mode, seed=2)
    for timesteps in (None, respaced_timesteps(32, 32)):
        generator = torch.Generator().manual_seed(2)
        result = sample_reverse(_drawing_denoiser(generator), x_T, SCHEDULE, mode, generator, timesteps)
        assert torch.equal(result, expected)


def test_the_respaced_schedule_is_the_closed_form_of_a_tiny_schedule():
    # betas 0.1, 0.2, 0.3, 0.4: alpha_bars 0.9, 0.72, 0.504, 0.3024.
    schedule = NoiseSchedule.from_betas(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64))
    # Steps 0 and 3: beta'_1 = 1 - 0.3024 / 0.9 = 0.664, so alpha'_1 = 0.336.
    spaced = schedule.respaced((0, 3))
    expected = {
        "betas": [0.1, 0.664],
        "alphas": [0.9, 0.336],
        "alpha_bars": [0.9, 0.3024],
        "alpha_bars_prev": [1.0, 0.9],
        "posterior_variance": [0.0, 0.1 / 0.6976 * 0.664],
        "posterior_coef_x0": [1.0, math.sqrt(0.9) * 0.664 / 0.6976],
        "posterior_coef_xt": [0.0, math.sqrt(0.336) * 0.1 / 0.6976],
    }
    for name, values in expected.items():
        torch.testing.assert_close(getattr(spaced, name), torch.tensor(values, dtype=torch.float64), rtol=0,
                                   atol=1e-12, msg=name)
    # Steps 1 and 2: the first spans steps 0-1 (1 - 0.72 = 0.28), the second is beta_2 itself.
    torch.testing.assert_close(schedule.respaced((1, 2)).betas, torch.tensor([0.28, 0.3], dtype=torch.float64),
                               rtol=0, atol=1e-12)
    # One step, the last: it spans the whole chain and its posterior is x0_hat itself.
    single = schedule.respaced((3,))
    torch.testing.assert_close(single.betas, torch.tensor([0.6976], dtype=torch.float64), rtol=0, atol=1e-12)
    assert single.posterior_coef_x0.item() == pytest.approx(1.0, abs=1e-12)
    assert single.posterior_coef_xt.item() == 0.0 and single.posterior_variance.item() == 0.0
    with pytest.raises(ValueError, match="must increase"):
        schedule.respaced((2, 1))


def test_the_kept_steps_are_evenly_spaced_with_both_ends_rounded_half_up():
    assert respaced_timesteps(32, 1) == (31,)
    assert respaced_timesteps(32, 2) == (0, 31)
    assert respaced_timesteps(32, 4) == (0, 10, 21, 31)
    assert respaced_timesteps(32, 8) == (0, 4, 9, 13, 18, 22, 27, 31)
    assert respaced_timesteps(32, 32) == tuple(range(32))
    assert respaced_timesteps(6, 3) == (0, 3, 5)  # 2.5 rounds up
    for steps in (0, 33):
        with pytest.raises(ConfigError, match=r"ablation\.steps: .* use 1\.\.32"):
            respaced_timesteps(32, steps)


def test_fewer_steps_call_the_denoiser_at_the_original_steps_and_end_on_its_x0():
    seen = []
    target = torch.tensor([[0.3, -1.2, 2.0]])

    def denoise(x_t, t):
        seen.append(t)
        return target.expand_as(x_t)

    x_T = torch.randn((4, 3), generator=torch.Generator().manual_seed(5))
    x0 = sample_reverse(denoise, x_T, SCHEDULE, "paper", torch.Generator().manual_seed(6), (0, 10, 21, 31))
    assert seen == [31, 21, 10, 0]
    torch.testing.assert_close(x0, target.expand(4, 3), rtol=0, atol=1e-6)


def test_zero_xt_feeds_the_approximator_zeros_and_draws_as_the_full_process():
    model = DiffuRec(20, ModelConfig(hidden=16, blocks=1, heads=2, max_len=6), "v1").eval()
    history = torch.tensor([[0, 0, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]])
    inputs, outputs = [], []

    def spy(encoded, x_t, step, lambdas):
        inputs.append(x_t.clone())
        outputs.append(model.approximator.denoise(encoded, x_t, step, lambdas))
        return outputs[-1]

    states = []
    for reverse in (ReverseOptions(), ReverseOptions(zero_xt=True)):
        inputs.clear()
        outputs.clear()
        generator = torch.Generator().manual_seed(3)
        x0 = model.reconstruct(history, generator, spy, reverse)
        states.append(generator.get_state())
        assert len(inputs) == 32
        assert all(bool((x == 0).all()) for x in inputs) == reverse.zero_xt
    # The same draws in the same order, and the result is the last step's prediction.
    assert torch.equal(states[0], states[1])
    torch.testing.assert_close(x0, outputs[-1], rtol=1e-6, atol=1e-6)


# ---- the stages ---------------------------------------------------------------------------------

PARAMS = {
    "variants": ["v1"],
    "seeds": [0],
    "model": {"hidden": 32, "blocks": 1, "heads": 2, "max_len": 10},
    "train": {"epochs": 1, "batch_size": 32, "lr": 0.005, "device": "cpu"},
    "eval": {"batch_size": 64, "device": "cpu"},
    "ablation": {"steps": [1, 4, 32], "zero_xt": True},
}


def _project(tmp_path: Path, monkeypatch, **overrides) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({**PARAMS, **overrides}))
    split = layout.split_file("ml-100k")
    split.parent.mkdir(parents=True)
    cycle_split(n_users=150, n_items=40, seed=3).to_parquet(split, index=False)
    return tmp_path


def _train_evaluate_and_ablate(variant: str) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """Seed 0 of `variant` through train, evaluate, ablation and the report: (the ablation's run
    folder, its ranks, the evaluate stage's ranks)."""
    for command in (["train", "ml-100k", variant, "0"], ["evaluate", "ml-100k", variant, "0"],
                    ["ablation", "ml-100k", variant, "0"], ["ablation-report"]):
        assert run_cli(*command) == (0, ""), command
    out = layout.ablation_dir("ml-100k", variant, 0)
    evaluated = pd.read_parquet(layout.eval_dir("ml-100k", variant, 0) / "ranks.parquet")
    return out, pd.read_parquet(out / "ranks.parquet"), evaluated


def test_the_ablation_at_every_step_ranks_exactly_as_the_evaluate_stage(tmp_path, monkeypatch):
    _project(tmp_path, monkeypatch)
    out, ranks, evaluated = _train_evaluate_and_ablate("v1")
    assert list(ranks.columns) == ["user_id", "steps=1", "steps=4", "steps=32", "zero_xt"]
    assert ranks["user_id"].equals(evaluated["user_id"])
    assert ranks["steps=32"].equals(evaluated["rank"])
    results = json.loads((out / "results.json").read_text())
    by_name = {entry["name"]: entry for entry in results["settings"]}
    metrics = json.loads((layout.eval_dir("ml-100k", "v1", 0) / "metrics.json").read_text())
    assert by_name["steps=32"]["metrics"] == {k: v for k, v in metrics.items() if k != "users"}
    assert by_name["steps=4"]["timesteps"] == [0, 10, 21, 31]
    assert by_name["zero_xt"]["timesteps"] == list(range(32)) and by_name["zero_xt"]["zero_xt"]
    assert all(entry["seconds"] > 0 for entry in results["settings"])

    report = (tmp_path / "reports" / "ablation.md").read_text()
    assert "| 4 of 32 steps |" in report and "| x_t = 0 (32 of 32 steps) |" in report
    plot = pd.read_csv(tmp_path / "reports" / "ablation.tsv", sep="\t")
    assert plot["setting"].tolist() == ["steps=1", "steps=4", "steps=32", "zero_xt"]
    assert (tmp_path / "reports" / "figures" / "ablation.png").stat().st_size > 0
    assert "Figure: [each setting's difference from the full reverse process](figures/ablation.png)" in report


def test_the_control_is_ablated_once_in_its_one_pass_as_the_evaluate_stage_ranks(tmp_path, monkeypatch):
    _project(tmp_path, monkeypatch, variants=["control"])
    out, ranks, evaluated = _train_evaluate_and_ablate("control")
    assert list(ranks.columns) == ["user_id", ONE_PASS]
    assert ranks["user_id"].equals(evaluated["user_id"]) and ranks[ONE_PASS].equals(evaluated["rank"])
    results = json.loads((out / "results.json").read_text())
    assert results["model_steps"] == 0
    (setting,) = results["settings"]
    metrics = json.loads((layout.eval_dir("ml-100k", "control", 0) / "metrics.json").read_text())
    assert setting["name"] == ONE_PASS and setting["timesteps"] == [] and not setting["zero_xt"]
    assert setting["metrics"] == {k: v for k, v in metrics.items() if k != "users"} and setting["seconds"] > 0

    report = (tmp_path / "reports" / "ablation.md").read_text()
    assert "## MovieLens-100K, Transformer, no diffusion" in report
    assert "| one pass (no diffusion) |" in report and "the control's row" in report
    # No diffusion model here: nothing about respacing or x_t = 0.
    assert "respaced" not in report and "x_t = 0:" not in report
    plot = pd.read_csv(tmp_path / "reports" / "ablation.tsv", sep="\t")
    assert plot[["variant", "setting", "steps", "zero_xt"]].values.tolist() == [["control", ONE_PASS, 0, False]]
    # Nothing to subtract from a one pass: the figure says so rather than failing.
    assert (tmp_path / "reports" / "figures" / "ablation.png").stat().st_size > 0


def test_only_a_diffusion_model_takes_the_ablation_params_settings():
    assert setting_names("v2", ["steps=1", "zero_xt"]) == ["steps=1", "zero_xt"]
    assert setting_names("control", ["steps=1", "zero_xt"]) == [ONE_PASS]


@pytest.mark.parametrize(
    ("steps", "fragment"),
    [([0], "ablation.steps lists 0"), ([4, 33], "ablation.steps lists 33"), ([], "ablation.steps is empty"),
     ([2, 2], "ablation.steps has duplicates")],
)
def test_bad_ablation_params_are_refused_before_anything_is_written(tmp_path, monkeypatch, steps, fragment):
    _project(tmp_path, monkeypatch, ablation={"steps": steps})
    for command in (["ablation", "ml-100k", "v1", "0"], ["ablation-report"]):
        assert_refused(*run_cli(*command), fragment)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "reports").exists()


def _setting(name: str, timesteps: tuple[int, ...], seconds: float, hr: float, ndcg: float, zero_xt=False):
    return SettingRun(name, 4, timesteps, zero_xt, seconds, {"HR@10": hr, "NDCG@10": ndcg})


def test_the_report_renders_hand_made_runs():
    runs = {
        ("ml-100k", "v1"): [
            [_setting("steps=1", (3,), 1.0, 0.1, 0.05), _setting("zero_xt", (0, 1, 2, 3), 4.0, 0.2, 0.1, True)],
            [_setting("steps=1", (3,), 2.0, 0.3, 0.07), _setting("zero_xt", (0, 1, 2, 3), 6.0, 0.2, 0.1, True)],
        ]
    }
    text = render_ablation(runs, ["HR@10", "NDCG@10"], [0, 1], ["cpu (2 threads)"] * 2, "figures/ablation.png")
    assert text.startswith(
        "# Inference ablations\n\n"
        "## MovieLens-100K, V1 (+cross-attention)\n\n"
        "| setting | HR@10 | NDCG@10 | seconds |\n"
        "| --- | ---: | ---: | ---: |\n"
        "| 1 of 4 steps | 0.2000 ± 0.1414 | 0.0600 ± 0.0141 | 1.50 ± 0.71 |\n"
        "| x_t = 0 (4 of 4 steps) | 0.2000 ± 0.0000 | 0.1000 ± 0.0000 | 5.00 ± 1.41 |\n"
    )
    assert "Steps kept: K = 1: t = 3." in text and "measured on cpu (2 threads)" in text
    assert "one pass" not in text
    assert plot_table(runs, ["HR@10", "NDCG@10"]) == (
        "dataset\tvariant\tsetting\tsteps\tzero_xt\tseconds\tHR@10\tNDCG@10\n"
        "ml-100k\tv1\tsteps=1\t1\tFalse\t1.500000\t0.200000\t0.060000\n"
        "ml-100k\tv1\tzero_xt\t4\tTrue\t5.000000\t0.200000\t0.100000\n"
    )


def test_the_report_puts_the_control_row_beside_the_diffusion_settings():
    one_pass = [SettingRun(ONE_PASS, 0, (), False, seconds, {"HR@10": 0.3, "NDCG@10": 0.2}) for seconds in (0.5, 0.7)]
    runs = {
        ("ml-100k", "control"): [[one_pass[0]], [one_pass[1]]],
        ("ml-100k", "v1"): [[_setting("steps=1", (3,), 1.0, 0.1, 0.05)], [_setting("steps=1", (3,), 2.0, 0.3, 0.07)]],
    }
    text = render_ablation(runs, ["HR@10", "NDCG@10"], [0, 1], ["cpu (2 threads)"] * 4, "figures/ablation.png")
    assert (
        "## MovieLens-100K, Transformer, no diffusion\n\n"
        "| setting | HR@10 | NDCG@10 | seconds |\n"
        "| --- | ---: | ---: | ---: |\n"
        "| one pass (no diffusion) | 0.3000 ± 0.0000 | 0.2000 ± 0.0000 | 0.60 ± 0.14 |\n"
    ) in text
    # The diffusion notes come from the diffusion run even when the control is listed first.
    assert "Steps kept: K = 1: t = 3." in text and "- one pass (no diffusion): the control's row." in text
    assert "(reverse process or one pass, scores, ranks)" in text
    assert plot_table(runs, ["HR@10", "NDCG@10"]).splitlines()[1] == (
        "ml-100k\tcontrol\tone_pass\t0\tFalse\t0.600000\t0.300000\t0.200000"
    )


def test_each_setting_is_compared_with_the_full_process_of_its_own_seed_in_points():
    runs = {
        ("ml-100k", "control"): [[SettingRun(ONE_PASS, 0, (), False, 0.5, {"NDCG@10": 0.3})]] * 2,
        ("ml-100k", "v1"): [
            [_setting("steps=1", (3,), 1.0, 0.1, 0.0501), _setting("steps=4", (0, 1, 2, 3), 4.0, 0.1, 0.05)],
            [_setting("steps=1", (3,), 1.0, 0.1, 0.0590), _setting("steps=4", (0, 1, 2, 3), 4.0, 0.1, 0.06)],
        ],
    }
    # The control has no full process to be compared with: it needs no reference and gets no rows.
    differences = setting_differences(runs, {("ml-100k", "v1"): (0.05, 0.06)}, "NDCG@10")
    assert differences[["variant", "setting"]].values.tolist() == [
        ["v1", "1 of 4 steps"], ["v1", "4 of 4 steps"], ["v1", "1 of 4 steps"], ["v1", "4 of 4 steps"]
    ]
    # A difference of 0.0001 in NDCG is 0.01 points; K = T is the reference itself.
    np.testing.assert_allclose(differences["points"], [0.01, 0.0, -0.1, 0.0], atol=1e-12)
    assert (differences["points"].iloc[[1, 3]] == 0.0).all()
    with pytest.raises(ValueError):
        setting_differences(runs, {("ml-100k", "v1"): (0.05,)}, "NDCG@10")


def test_the_differences_title_says_what_the_marks_are_or_that_one_seed_has_no_spread():
    assert differences_title("NDCG@10", [0, 1, 2]) == (
        "Inference ablations: NDCG@10 minus the full reverse process's (all T steps), same model and seed\n"
        "filled dot and bar: mean over seeds 0, 1, 2 ± 1 std of the per-seed differences; hollow dots: each seed"
    )
    assert differences_title("NDCG@10", [4]).endswith("\nseed 4 (one seed: no spread)")


def test_ablation_results_read_back_and_stale_ones_are_refused(tmp_path):
    measured = [MeasuredSetting("steps=1", (31,), False, 0.5, np.array([1, 2, 30])),
                MeasuredSetting("steps=32", tuple(range(32)), False, 2.0, np.array([1, 1, 12]))]
    run = {"dataset": "ml-100k", "variant": "v2", "seed": 1, "model_steps": 32, "device": "cpu (1 threads)"}
    out = layout.ablation_dir("ml-100k", "v2", 1, tmp_path)
    write_ablation(out, run, ["u1", "u2", "u3"], measured, tiny_config().eval)
    device, settings = read_ablation(tmp_path, "ml-100k", "v2", 1, ["steps=1", "steps=32"], ["HR@10", "NDCG@10"])
    assert device == "cpu (1 threads)"
    assert [(s.name, s.steps, s.seconds) for s in settings] == [("steps=1", 1, 0.5), ("steps=32", 32, 2.0)]
    assert settings[0].metrics == {"HR@10": round(2 / 3, 6), "NDCG@10": round((1 + 1 / math.log2(3)) / 3, 6)}
    with pytest.raises(DataError, match=r"params.yaml's ablation asks for \['steps=1'\]; rerun the ablation stage"):
        read_ablation(tmp_path, "ml-100k", "v2", 1, ["steps=1"], ["HR@10"])
    # Another run's results at this run's path (copied over by hand, say).
    stale = layout.ablation_dir("ml-100k", "v2", 0, tmp_path)
    stale.mkdir(parents=True)
    (stale / "results.json").write_text((out / "results.json").read_text())
    with pytest.raises(DataError, match="records dataset/variant/seed"):
        read_ablation(tmp_path, "ml-100k", "v2", 0, ["steps=1", "steps=32"], ["HR@10"])
