"""Forward and reverse diffusion functions against their closed forms."""

import math

import pytest
import torch

from diffurec.diffusion import (
    diffuse_embedding,
    forward_noise,
    posterior_mean,
    q_sample,
    reverse_noise_scale,
    reverse_step,
    sample_reverse,
)
from diffurec.errors import ConfigError
from diffurec.schedule import NoiseSchedule

SCHEDULE = NoiseSchedule.named("trunc_lin", 32)
SAMPLES = 200_000


def _moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x.mean(dim=0), x.var(dim=0)


def test_q_sample_has_the_mean_and_variance_of_eq_5():
    generator = torch.Generator().manual_seed(0)
    x0 = torch.tensor([[2.0, -1.0, 0.5]])
    for t in (0, 10, 31):
        alpha_bar = SCHEDULE.alpha_bars[t].item()
        noise = torch.randn((SAMPLES, 3), generator=generator)
        signal, spread = SCHEDULE.sqrt_alpha_bars[t].item(), SCHEDULE.sqrt_one_minus_alpha_bars[t].item()
        mean, var = _moments(q_sample(x0.expand(SAMPLES, 3), signal, spread, noise))
        torch.testing.assert_close(mean, math.sqrt(alpha_bar) * x0[0], rtol=0, atol=0.01)
        torch.testing.assert_close(var, torch.full((3,), 1 - alpha_bar), rtol=0.02, atol=0)


def test_q_sample_takes_one_coefficient_pair_per_sample():
    x0 = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    noise = torch.tensor([[0.5, -0.5], [1.0, 0.0]])
    # alpha_bar 0.64 and 0.36.
    signal, spread = torch.tensor([[0.8], [0.6]]), torch.tensor([[0.6], [0.8]])
    expected = torch.tensor([[0.8 * 1 + 0.6 * 0.5, 0.8 * 2 - 0.6 * 0.5], [0.6 * 3 + 0.8 * 1.0, 0.6 * 4]])
    torch.testing.assert_close(q_sample(x0, signal, spread, noise), expected)


def test_the_schedules_square_roots_are_correctly_rounded():
    # math.sqrt is correctly rounded (IEEE 754), so these are the same bits on every processor.
    for roots, squares in ((SCHEDULE.sqrt_alpha_bars, SCHEDULE.alpha_bars),
                           (SCHEDULE.sqrt_one_minus_alpha_bars, 1.0 - SCHEDULE.alpha_bars)):
        assert roots.tolist() == [math.sqrt(value) for value in squares.tolist()]


def test_one_step_diffusion_of_the_embedding_is_eq_19():
    embedding = torch.tensor([[1.0, -2.0]])
    noise = torch.tensor([[0.3, 0.7]])
    alpha0 = 1 - SCHEDULE.betas[0].item()
    expected = math.sqrt(alpha0) * embedding + math.sqrt(1 - alpha0) * noise
    first_step = (SCHEDULE.sqrt_alpha_bars[0].item(), SCHEDULE.sqrt_one_minus_alpha_bars[0].item())
    torch.testing.assert_close(diffuse_embedding(embedding, first_step, noise), expected)


def test_constant_offset_noise_shifts_every_dimension_by_offset_times_delta_c():
    generator = torch.Generator().manual_seed(1)
    noise = forward_noise((SAMPLES, 4), 0.1, 2.0, "constant", generator=generator)
    mean, var = _moments(noise)
    torch.testing.assert_close(mean, torch.full((4,), 0.2), rtol=0, atol=0.01)
    torch.testing.assert_close(var, torch.ones(4), rtol=0.02, atol=0)


def test_constant_offset_noise_is_the_plain_draw_plus_the_shift():
    shifted = forward_noise((5, 3), 0.1, 1.0, "constant", generator=torch.Generator().manual_seed(2))
    plain = torch.randn((5, 3), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(shifted - plain, torch.full((5, 3), 0.1))


def test_per_sample_offset_noise_shares_one_shift_across_dimensions():
    generator = torch.Generator().manual_seed(3)
    noise = forward_noise((SAMPLES, 2), 0.5, 1.0, "per_sample", generator=generator)
    plain = torch.randn((SAMPLES, 2), generator=torch.Generator().manual_seed(3))
    shift = noise - plain
    torch.testing.assert_close(shift[:, 0], shift[:, 1])
    assert shift[:, 0].mean().abs().item() < 0.01
    assert shift[:, 0].var().item() == pytest.approx(0.25, rel=0.02)


def test_per_element_offset_noise_only_widens_the_variance():
    generator = torch.Generator().manual_seed(5)
    noise = forward_noise((SAMPLES, 3), 0.5, 2.0, "per_element", generator=generator)
    mean, var = _moments(noise)
    torch.testing.assert_close(mean, torch.zeros(3), rtol=0, atol=0.02)
    torch.testing.assert_close(var, torch.full((3,), 1.0 + 1.0**2), rtol=0.02, atol=0)
    shift = noise - torch.randn((SAMPLES, 3), generator=torch.Generator().manual_seed(5))
    assert abs(torch.corrcoef(shift[:, :2].T)[0, 1].item()) < 0.02


def test_zero_offset_is_exactly_standard_noise_in_every_mode():
    for mode in ("constant", "per_sample", "per_element"):
        noise = forward_noise((4, 3), 0.0, 1.0, mode, generator=torch.Generator().manual_seed(4))
        assert torch.equal(noise, torch.randn((4, 3), generator=torch.Generator().manual_seed(4)))
    with pytest.raises(ConfigError, match="offset_mode"):
        forward_noise((4, 3), 0.1, 1.0, "per_dim")


def test_posterior_mean_and_reverse_step_follow_eq_8_and_22():
    x_t = torch.tensor([[1.0, 2.0]])
    x0_hat = torch.tensor([[-1.0, 0.5]])
    noise = torch.tensor([[0.2, -0.4]])
    t = 5
    c0, ct = SCHEDULE.posterior_coef_x0[t].item(), SCHEDULE.posterior_coef_xt[t].item()
    mean = posterior_mean(x_t, x0_hat, c0, ct)
    torch.testing.assert_close(mean, c0 * x0_hat + ct * x_t)
    scale = SCHEDULE.posterior_variance[t].item()
    torch.testing.assert_close(reverse_step(x_t, x0_hat, c0, ct, scale, noise), mean + scale * noise)
    torch.testing.assert_close(reverse_step(x_t, x0_hat, c0, ct, scale, None), mean)


def test_reverse_noise_scales_by_mode():
    paper = reverse_noise_scale(SCHEDULE, "paper")
    posterior = reverse_noise_scale(SCHEDULE, "posterior")
    official = reverse_noise_scale(SCHEDULE, "official")
    for scale in (paper, posterior, official):
        assert scale[0].item() == 0.0
    torch.testing.assert_close(paper[1:], SCHEDULE.posterior_variance[1:])
    torch.testing.assert_close(posterior[1:], SCHEDULE.posterior_variance[1:].sqrt())
    torch.testing.assert_close(official[1:], SCHEDULE.betas[1:].sqrt())
    with pytest.raises(ConfigError, match="reverse_noise"):
        reverse_noise_scale(SCHEDULE, "large")


def test_reverse_chain_with_an_exact_denoiser_returns_its_x0():
    # At t = 0 the posterior mean is x0_hat itself, whatever the noise before.
    target = torch.tensor([[0.3, -1.2, 2.0]])
    seen_steps = []

    def denoise(x_t, t):
        seen_steps.append(t)
        return target.expand_as(x_t)

    x_T = torch.randn((4, 3), generator=torch.Generator().manual_seed(5))
    x0 = sample_reverse(denoise, x_T, SCHEDULE, "posterior", torch.Generator().manual_seed(6))
    assert seen_steps == list(range(31, -1, -1))
    torch.testing.assert_close(x0, target.expand(4, 3), rtol=0, atol=1e-6)


def test_reverse_chain_step_by_step():
    schedule = NoiseSchedule.named("trunc_lin", 32)

    def denoise(x_t, t):
        return 0.5 * x_t + t

    x_T = torch.randn((2, 3), generator=torch.Generator().manual_seed(7))
    result = sample_reverse(denoise, x_T, schedule, "paper", torch.Generator().manual_seed(8))
    generator = torch.Generator().manual_seed(8)
    x = x_T.double()
    for t in range(31, -1, -1):
        x0_hat = 0.5 * x + t
        mean = schedule.posterior_coef_x0[t] * x0_hat + schedule.posterior_coef_xt[t] * x
        x = mean + (schedule.posterior_variance[t] * torch.randn((2, 3), generator=generator).double() if t else 0)
    torch.testing.assert_close(result, x.float(), rtol=1e-5, atol=1e-5)
