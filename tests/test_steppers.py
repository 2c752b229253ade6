"""The transition functions against closed forms."""

import math

import pytest
import torch

from f2g_core.steppers import (
    ddim_step,
    flow_step,
    gaussian_step,
    stochastic_std,
    x0_from_eps,
    x0_from_flow,
    x0_from_v,
)

pytestmark = pytest.mark.plugin_independent  # never loads the installed plugins (tests/conftest.py)


def _pair(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(4, 3, generator=g, dtype=torch.float64) for _ in range(3))  # type: ignore[return-value]


def test_ddim_eta0_matches_the_ddim_paper_formula() -> None:
    x0, eps, _ = _pair()
    a, a_prev = 0.3, 0.7
    x = math.sqrt(a) * x0 + math.sqrt(1 - a) * eps
    expected = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
    torch.testing.assert_close(ddim_step(x, x0, a, a_prev, 0.0, None), expected)


def test_ddim_eta1_is_the_ddpm_posterior() -> None:
    """Mean and variance of q(x_prev | x_t, x0) for the variance-preserving path (DDPM eq. 7)."""
    x0, eps, z = _pair(1)
    a, a_prev = 0.3, 0.7
    x = math.sqrt(a) * x0 + math.sqrt(1 - a) * eps
    beta = 1 - a / a_prev
    mean = (math.sqrt(a_prev) * beta / (1 - a)) * x0 + (math.sqrt(1 - beta) * (1 - a_prev) / (1 - a)) * x
    std = math.sqrt((1 - a_prev) / (1 - a) * beta)
    torch.testing.assert_close(ddim_step(x, x0, a, a_prev, 1.0, z), mean + std * z)


def test_flow_eta0_is_the_euler_step_of_the_flow_ode() -> None:
    x0, eps, _ = _pair(2)
    sigma, sigma_next = 0.8, 0.5
    x = (1 - sigma) * x0 + sigma * eps
    velocity = eps - x0
    torch.testing.assert_close(flow_step(x, x0, sigma, sigma_next, 0.0, None), x + (sigma_next - sigma) * velocity)
    torch.testing.assert_close(x0_from_flow(x, velocity, sigma), x0)


def test_flow_eta1_from_pure_noise_renoises_x0() -> None:
    """From sigma=1 the posterior forgets the current noise: x' = (1-σ')x̂0 + σ' z."""
    x0, eps, z = _pair(3)
    out = flow_step(eps, x0, 1.0, 0.6, 1.0, z)
    torch.testing.assert_close(out, 0.4 * x0 + 0.6 * z)


def test_flow_eta1_posterior_has_the_gaussian_bridge_variance() -> None:
    """Empirical mean/variance of many steps match the closed-form posterior of the rectified-flow path."""
    sigma, sigma_next = 0.7, 0.4
    alpha, alpha_next = 1 - sigma, 1 - sigma_next
    x0 = torch.tensor([0.5], dtype=torch.float64)
    x = torch.tensor([0.2], dtype=torch.float64)
    z = torch.randn(200_000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = flow_step(x.expand_as(z), x0.expand_as(z), sigma, sigma_next, 1.0, z)
    ratio = alpha / alpha_next
    var = sigma_next**2 * (1 - (ratio * sigma_next / sigma) ** 2)
    mean = alpha_next * x0 + (sigma_next**2 * ratio / sigma**2) * (x - alpha * x0)
    assert abs(out.mean().item() - mean.item()) < 5e-3
    assert abs(out.var().item() - var) < 5e-3


def test_last_step_returns_x0_and_needs_no_noise() -> None:
    x0, eps, _ = _pair(4)
    torch.testing.assert_close(gaussian_step(eps, x0, 0.5, 0.8, 1.0, 0.0, 1.0, None), x0)


def test_parameterisation_conversions_invert_the_forward_process() -> None:
    x0, eps, _ = _pair(5)
    alpha, sigma = 0.6, 0.8
    x = alpha * x0 + sigma * eps
    torch.testing.assert_close(x0_from_eps(x, eps, alpha, sigma), x0)
    v = alpha * eps - sigma * x0
    torch.testing.assert_close(x0_from_v(x, v, alpha, sigma), x0)


def test_invalid_arguments_are_rejected() -> None:
    x0, eps, _ = _pair(6)
    with pytest.raises(ValueError, match="eta"):
        gaussian_step(eps, x0, 0.5, 0.8, 0.7, 0.7, 1.5, eps)
    with pytest.raises(ValueError, match="needs noise"):
        gaussian_step(eps, x0, 0.5, 0.8, 0.7, 0.7, 1.0, None)
    assert stochastic_std(0.5, 0.8, 0.7, 0.7, 0.0) == 0.0
