"""A weight-free analytic backbone: Gaussian-mixture data with the exact (closed-form) denoiser.

Because E[x0 | x_t] is known exactly for a mixture of isotropic Gaussians, samplers can be *proven* on it: plain
stochastic sampling must reproduce the mixture, and a reward that prefers one mode must raise that mode's share.
Latents are D-dimensional points; "decoding" paints every pixel of every frame with sigmoid(x0) in the first D
colour channels, so image rewards see the sample and decoding cost scales with the frames asked for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from f2g_core.hookspecs import Register, hookimpl
from f2g_core.interfaces import Backbone, Level, Reward, RewardBatch, Schedule


def ddpm_alphas_cumprod(train_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """ᾱ_t of the linear DDPM beta schedule (as in DDPM/DDIM papers)."""
    betas = np.linspace(beta_start, beta_end, train_steps, dtype=np.float64)
    return np.cumprod(1.0 - betas)


def ddim_schedule(num_steps: int, alphas_cumprod: np.ndarray) -> Schedule:
    """Evenly spaced ("leading") DDIM timesteps from noisy to clean, variance-preserving levels, level T clean."""
    train_steps = len(alphas_cumprod)
    stride = train_steps // num_steps
    timesteps = [int(t) for t in (np.arange(num_steps) * stride)[::-1] + (train_steps - 1 - (num_steps - 1) * stride)]
    alphas = [math.sqrt(alphas_cumprod[t]) for t in timesteps] + [1.0]
    sigmas = [math.sqrt(1.0 - alphas_cumprod[t]) for t in timesteps] + [0.0]
    return Schedule(timesteps=tuple(float(t) for t in timesteps), alphas=tuple(alphas), sigmas=tuple(sigmas))


class GaussianMixtureBackbone(Backbone):
    """Analytic test backbone: a mixture of isotropic Gaussians with the exact posterior-mean denoiser."""

    name = "gaussian-mixture"
    batched_conditioning = True  # unconditional: rows of several "prompts" share calls trivially

    class Options(Backbone.Options):
        means: list[list[float]] = Field(
            default_factory=lambda: [[-2.0, -2.0], [2.0, 2.0]], description="Mode centres (K × D)."
        )
        weights: list[float] | None = Field(None, description="Mode probabilities; None = uniform.")
        std: float = Field(0.3, gt=0, description="Standard deviation of every mode.")
        num_frames: int = Field(4, ge=1, description="Frames of a decoded 'video'.")
        frame_size: int = Field(4, ge=1, description="Height and width of decoded frames.")

        @model_validator(mode="after")
        def _shapes(self) -> GaussianMixtureBackbone.Options:
            dims = {len(m) for m in self.means}
            if len(dims) != 1 or not 1 <= dims.pop() <= 3:
                raise ValueError("means: every mode needs the same dimension, between 1 and 3")
            if self.weights is not None and (len(self.weights) != len(self.means) or min(self.weights) < 0):
                raise ValueError("weights: one non-negative weight per mode")
            return self

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.means = np.asarray(self.options.means, dtype=np.float64)
        weights = np.asarray(self.options.weights or [1.0] * len(self.means), dtype=np.float64)
        self.weights = weights / weights.sum()

    @property
    def num_frames(self) -> int:
        return int(self.options.num_frames)

    def latent_shape(self) -> tuple[int, ...]:
        return (int(self.means.shape[1]),)

    def schedule(self, num_steps: int) -> Schedule:
        return ddim_schedule(num_steps, ddpm_alphas_cumprod())

    def encode_prompt(self, prompt: str, negative_prompt: str | None, cfg_scale: float | None) -> Any:
        return None

    def stack_conditioning(self, conds: Sequence[Any]) -> Any:
        return None

    def denoise(self, latents: Any, level: Level, cond: Any) -> Any:
        """E[x0 | x_t] = Σ_k w_k(x_t) (μ_k + α s² / (α² s² + σ²) (x_t − α μ_k)), in float64 NumPy (tiny arrays)."""
        import torch

        x = latents.detach().cpu().numpy().astype(np.float64)
        alpha, sigma, var = level.alpha, level.sigma, self.options.std**2
        total = alpha**2 * var + sigma**2
        diff = x[:, None, :] - alpha * self.means[None]  # (N, K, D)
        logits = np.log(self.weights)[None] - (diff**2).sum(-1) / (2 * total)
        resp = np.exp(logits - logits.max(axis=1, keepdims=True))
        resp /= resp.sum(axis=1, keepdims=True)  # (N, K) responsibilities
        posterior = self.means[None] + (alpha * var / total) * diff
        x0 = (resp[..., None] * posterior).sum(1)
        return torch.from_numpy(x0).to(dtype=latents.dtype, device=latents.device)

    def decode(self, x0: Any, frame_indices: Sequence[int]) -> np.ndarray:
        values = 1.0 / (1.0 + np.exp(-x0.detach().cpu().numpy().astype(np.float64)))  # (N, D)
        size, count = self.options.frame_size, len(list(frame_indices))
        frames = np.full((values.shape[0], count, size, size, 3), 0.5, dtype=np.float32)
        frames[..., : values.shape[1]] = values[:, None, None, None, :]
        return frames


def decode_point(batch: RewardBatch, dims: int) -> np.ndarray:
    """Recover the latent points (N, D) a GaussianMixtureBackbone painted into ``batch``'s frames."""
    values = np.clip(batch.frames[..., :dims].mean(axis=(1, 2, 3)).astype(np.float64), 1e-6, 1 - 1e-6)
    return np.log(values / (1 - values))


class ModeReward(Reward):
    """Test reward: negative squared distance between a GaussianMixtureBackbone sample and a target point."""

    name = "mode-distance"

    class Options(Reward.Options):
        target: list[float] = Field(default_factory=lambda: [2.0, 2.0], description="The preferred point.")

    def score(self, batch: RewardBatch) -> list[float]:
        target = np.asarray(self.options.target, dtype=np.float64)
        points = decode_point(batch, len(target))
        return [float(-((p - target) ** 2).sum()) for p in points]


class Brightness(Reward):
    """Test reward for any backbone: the mean pixel value of each candidate's key frames.

    Cheap, deterministic and computed from frames alone, so tests of real (tiny) backbones can guide with it;
    ``calls`` keeps the shape of every frame batch scored, for tests that check what a reward was shown.
    """

    name = "brightness"
    calls: ClassVar[list[tuple[int, ...]]] = []

    def score(self, batch: RewardBatch) -> list[float]:
        Brightness.calls.append(batch.frames.shape)
        return [float(v) for v in batch.frames.mean(axis=(1, 2, 3, 4))]


@hookimpl
def register_backbones(register: Register) -> None:
    register(GaussianMixtureBackbone)


@hookimpl
def register_rewards(register: Register) -> None:
    register(ModeReward)
    register(Brightness)
