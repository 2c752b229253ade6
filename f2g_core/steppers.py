"""Pure transition functions of stochastic samplers, written over one Gaussian-path formula.

Both DDIM (variance-preserving: alpha = sqrt(ᾱ), sigma = sqrt(1 - ᾱ)) and flow matching (rectified flow:
alpha = 1 - σ, sigma = σ) noise a clean sample as ``x = alpha * x0 + sigma * eps``. For any such path the
posterior of the less-noisy level given the current latents and x0 is Gaussian, and DDIM's eta interpolates
between its deterministic mean path (eta = 0, the probability-flow ODE) and the exact posterior sample
(eta = 1, the ancestral / DDPM sampler):

    eps_hat = (x - alpha * x0_hat) / sigma
    s       = eta * sigma' * sqrt(1 - (alpha * sigma' / (alpha' * sigma))²)
    x'      = alpha' * x0_hat + sqrt(sigma'² - s²) * eps_hat + s * z,     z ~ N(0, I)

For flow matching with eta = 1 this is the SDE we use for branching: the transition kernel of the reverse-time
SDE whose marginals match the flow ODE's, i.e. x̂0 re-noised to the next sigma with the part of the current noise
that the forward process keeps. With eta = 0 it reduces to the Euler step of the flow ODE
(x' = x + (σ' - σ) v with v = eps_hat - x0_hat). These functions hold no state, so the sampler may call them
any number of times per step (diffusers' flow-matching schedulers advance a counter per ``step()`` call).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def gaussian_step(
    x: torch.Tensor,
    x0: torch.Tensor,
    alpha: float,
    sigma: float,
    alpha_next: float,
    sigma_next: float,
    eta: float,
    noise: torch.Tensor | None,
) -> torch.Tensor:
    """One stochastic step from level (alpha, sigma) to the less-noisy level (alpha_next, sigma_next)."""
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    if sigma_next == 0.0:
        return x0 * alpha_next
    if sigma <= 0.0:
        raise ValueError("gaussian_step needs sigma > 0 at the source level")
    eps = (x - alpha * x0) / sigma
    s = stochastic_std(alpha, sigma, alpha_next, sigma_next, eta)
    out = alpha_next * x0 + math.sqrt(max(sigma_next**2 - s**2, 0.0)) * eps
    if s > 0.0:
        if noise is None:
            raise ValueError("a stochastic step (eta > 0) needs noise")
        out = out + s * noise
    return out


def stochastic_std(alpha: float, sigma: float, alpha_next: float, sigma_next: float, eta: float) -> float:
    """The standard deviation of the fresh noise a step adds (0 for deterministic steps)."""
    if sigma_next == 0.0 or eta == 0.0:
        return 0.0
    ratio = (alpha * sigma_next) / (alpha_next * sigma)
    return eta * sigma_next * math.sqrt(max(1.0 - ratio**2, 0.0))


def ddim_step(
    x: torch.Tensor,
    x0: torch.Tensor,
    alpha_bar: float,
    alpha_bar_prev: float,
    eta: float,
    noise: torch.Tensor | None,
) -> torch.Tensor:
    """DDIM (Song et al. 2021) from cumulative alphas: eta = 1 is DDPM's ancestral step, eta = 0 deterministic."""
    return gaussian_step(
        x,
        x0,
        math.sqrt(alpha_bar),
        math.sqrt(1.0 - alpha_bar),
        math.sqrt(alpha_bar_prev),
        math.sqrt(1.0 - alpha_bar_prev),
        eta,
        noise,
    )


def flow_step(
    x: torch.Tensor,
    x0: torch.Tensor,
    sigma: float,
    sigma_next: float,
    eta: float,
    noise: torch.Tensor | None,
) -> torch.Tensor:
    """Stochastic flow-matching step on the path x = (1 - σ) x0 + σ eps (see the module docstring)."""
    return gaussian_step(x, x0, 1.0 - sigma, sigma, 1.0 - sigma_next, sigma_next, eta, noise)


def x0_from_eps(x: torch.Tensor, eps: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
    """x̂0 from an epsilon prediction."""
    return (x - sigma * eps) / alpha


def x0_from_v(x: torch.Tensor, v: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
    """x̂0 from a v prediction (v = alpha * eps - sigma * x0, variance-preserving paths)."""
    return alpha * x - sigma * v


def x0_from_flow(x: torch.Tensor, velocity: torch.Tensor, sigma: float) -> torch.Tensor:
    """x̂0 from a flow-matching velocity (v = eps - x0 on the path x = (1 - σ) x0 + σ eps)."""
    return x - sigma * velocity
