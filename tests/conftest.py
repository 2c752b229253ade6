"""Shared fixtures of the core tests."""

import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from f2g_core.gaussian_mixture import GaussianMixtureBackbone
from f2g_core.hookspecs import hookimpl
from f2g_core.plugins import Plugins
from f2g_core.registry import Registry


class CountingBackbone(GaussianMixtureBackbone):
    """Counts samples through the denoiser and frames through the decoder."""

    name = "counting-mixture"

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.denoised = 0
        self.batches: list[int] = []
        self.decoded = 0

    def denoise(self, latents: Any, level: Any, cond: Any) -> Any:
        self.denoised += latents.shape[0]
        self.batches.append(latents.shape[0])
        return super().denoise(latents, level, cond)

    def decode(self, x0: Any, frame_indices: Any) -> np.ndarray:
        frames = super().decode(x0, frame_indices)
        self.decoded += frames.shape[0] * frames.shape[1]
        return frames


@pytest.fixture
def counting(register_plugin: Callable[..., Plugins]) -> Registry:
    @hookimpl
    def register_backbones(register):  # type: ignore[no-untyped-def]
        register(CountingBackbone)

    return register_plugin(types.SimpleNamespace(register_backbones=register_backbones)).registry
