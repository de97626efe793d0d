"""Noise schedules and posterior constants against their closed forms."""

import math

import pytest
import torch

from diffurec.errors import ConfigError
from diffurec.schedule import NoiseSchedule, betas


def test_trunc_lin_for_32_steps_matches_the_official_formula():
    steps = 32
    values = betas("trunc_lin", steps)
    assert values.dtype == torch.float64 and values.shape == (steps,)
    start, end = 0.01 + 0.1 / steps, 0.01 + 20 / steps
    expected = [start + (end - start) * i / (steps - 1) for i in range(steps)]
    torch.testing.assert_close(values, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-15)
    assert values[0].item() == pytest.approx(0.013125, abs=1e-15)
    assert values[-1].item() == pytest.approx(0.635, abs=1e-15)
    alpha_bars = NoiseSchedule.from_betas(values).alpha_bars
    assert alpha_bars[0].item() == pytest.approx(1 - 0.013125, abs=1e-15)
    assert alpha_bars[-1].item() == pytest.approx(math.prod(1 - b for b in expected), rel=1e-12)
    assert 1e-7 < alpha_bars[-1].item() < 1e-5


def test_linear_is_ddpm_rescaled_to_the_number_of_steps():
    values = betas("linear", 100)
    assert values[0].item() == pytest.approx(1e-4 * 10, abs=1e-15)
    assert values[-1].item() == pytest.approx(0.02 * 10, abs=1e-15)
    assert torch.all(values.diff() > 0)


@pytest.mark.parametrize(
    ("name", "curve"),
    [
        ("cosine", lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2),
        ("sqrt", lambda u: 1 - math.sqrt(u + 1e-4)),
    ],
)
def test_alpha_bar_schedules_follow_their_curve(name, curve):
    steps = 32
    alpha_bars = NoiseSchedule.named(name, steps).alpha_bars
    # Away from the 0.999 cap the cumulative product telescopes to curve(t + 1) / curve(0).
    for t in range(steps - 1):
        assert alpha_bars[t].item() == pytest.approx(curve((t + 1) / steps) / curve(0), rel=1e-9)
    assert betas(name, steps).max().item() <= 0.999


@pytest.mark.parametrize("name", ["trunc_lin", "linear", "cosine", "sqrt"])
def test_every_schedule_is_a_valid_variance_schedule(name):
    values = betas(name, 32)
    assert torch.all(values > 0) and torch.all(values < 1)


def test_schedules_that_leave_the_unit_interval_are_rejected_with_the_fix():
    with pytest.raises(ConfigError, match=r"model\.steps = 10.*use more steps"):
        betas("trunc_lin", 10)
    with pytest.raises(ConfigError, match="unknown model.schedule"):
        betas("quadratic", 32)


def test_posterior_matches_bayes_rule_for_the_forward_chain():
    # q(x_{t-1} | x_0) = N(sqrt(ab_{t-1}) x_0, 1 - ab_{t-1}) and q(x_t | x_{t-1}) = N(sqrt(a_t) x_{t-1}, b_t):
    # conditioning on x_t gives precision 1/(1 - ab_{t-1}) + a_t / b_t, and the mean from it.
    schedule = NoiseSchedule.named("trunc_lin", 32)
    for t in range(1, schedule.steps):
        ab_prev = schedule.alpha_bars[t - 1].item()
        a, b = schedule.alphas[t].item(), schedule.betas[t].item()
        variance = 1 / (1 / (1 - ab_prev) + a / b)
        coef_x0 = variance * math.sqrt(ab_prev) / (1 - ab_prev)
        coef_xt = variance * math.sqrt(a) / b
        assert schedule.posterior_variance[t].item() == pytest.approx(variance, rel=1e-12)
        assert schedule.posterior_coef_x0[t].item() == pytest.approx(coef_x0, rel=1e-12)
        assert schedule.posterior_coef_xt[t].item() == pytest.approx(coef_xt, rel=1e-12)


def test_posterior_at_the_first_step_is_x0_itself():
    schedule = NoiseSchedule.named("trunc_lin", 32)
    assert schedule.alpha_bars_prev[0].item() == 1.0
    assert schedule.posterior_variance[0].item() == 0.0
    assert schedule.posterior_coef_x0[0].item() == pytest.approx(1.0, abs=1e-12)
    assert schedule.posterior_coef_xt[0].item() == 0.0
    torch.testing.assert_close(schedule.alpha_bars_prev[1:], schedule.alpha_bars[:-1], rtol=0, atol=0)
