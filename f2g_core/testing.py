"""pytest fixtures for plugin authors (installed as the pytest plugin ``f2g`` through the ``pytest11`` entry point).

* ``f2g_registry``: an isolated registry: the built-in combiners plus the analytic test components
  (``gaussian-mixture`` backbone, ``mode-distance`` reward), none of the installed plugins.
* ``register_plugin``: ``register_plugin(module_or_object, name="my-plugin")`` loads a throwaway plugin next to
  those and returns the :class:`~f2g_core.plugins.Plugins` (registry, per-plugin infos and errors).
* ``make_reward_batch``: builds :class:`~f2g_core.interfaces.RewardBatch` objects from random or given frames.
* ``gmm_backbone``: a loaded :class:`~f2g_core.gaussian_mixture.GaussianMixtureBackbone`.
* ``gmm_config``: a run-config dict guiding the analytic backbone towards one mode (edit and pass to
  ``Pipeline.from_config(config, registry=f2g_registry)``).
* ``lvlm_server``, ``lvlm_env``, ``lvlm_batch``: a real OpenAI- and Anthropic-compatible HTTP server on 127.0.0.1
  and an isolated key/cache environment, for testing LVLM rewards (see :mod:`f2g_core.lvlm.pytest_fixtures`).

This module imports only light modules at import time: pytest loads it in every test session of an
environment where f2g-core is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from f2g_core.interfaces import RewardBatch, StepInfo
from f2g_core.lvlm.pytest_fixtures import lvlm_batch, lvlm_env, lvlm_server
from f2g_core.plugins import Plugins, load_plugins
from f2g_core.registry import Registry

__all__ = [
    "f2g_registry",
    "gmm_backbone",
    "gmm_config",
    "isolated_plugins",
    "lvlm_batch",
    "lvlm_env",
    "lvlm_server",
    "make_reward_batch",
    "register_plugin",
    "reward_batch",
]


def isolated_plugins(extra: Sequence[tuple[str, Any]] = ()) -> Plugins:
    """Built-in combiners, the analytic test components and ``extra`` plugins; no installed entry points."""
    from f2g_core import gaussian_mixture

    return load_plugins(extra=[("f2g-testing", gaussian_mixture), *extra], entry_point_group=None)


def reward_batch(
    frames: np.ndarray | None = None,
    prompt: str = "a red circle moving left",
    n: int = 3,
    num_key_frames: int = 4,
    size: int = 16,
    num_frames: int = 16,
    step: StepInfo | None = None,
    seed: int = 0,
) -> RewardBatch:
    """A RewardBatch of given frames (N, F, H, W, 3) or of seeded random ones."""
    if frames is None:
        frames = np.random.default_rng(seed).random((n, num_key_frames, size, size, 3), dtype=np.float32)
    count = frames.shape[1]
    indices = tuple(round(i * (num_frames - 1) / max(count - 1, 1)) for i in range(count))
    return RewardBatch(
        prompt=prompt,
        frames=np.asarray(frames, dtype=np.float32),
        frame_indices=indices,
        num_frames=num_frames,
        step=step or StepInfo(index=0, num_steps=50, timestep=999.0),
    )


@pytest.fixture
def f2g_registry() -> Registry:
    return isolated_plugins().registry


@pytest.fixture
def register_plugin() -> Callable[..., Plugins]:
    def register(plugin: Any, name: str = "test-plugin") -> Plugins:
        return isolated_plugins([(name, plugin)])

    return register


@pytest.fixture
def make_reward_batch() -> Callable[..., RewardBatch]:
    return reward_batch


@pytest.fixture
def gmm_backbone() -> Any:
    from f2g_core.gaussian_mixture import GaussianMixtureBackbone

    backbone = GaussianMixtureBackbone()
    backbone.load()
    return backbone


@pytest.fixture
def gmm_config() -> dict[str, Any]:
    return {
        "prompt": "the upper-right mode",
        "backbone": {"type": "gaussian-mixture"},
        "rewards": [{"type": "mode-distance", "options": {"target": [2.0, 2.0]}}],
        "sampler": {"num_steps": 20},
        "guidance": {"method": "free2guide", "options": {"num_candidates": 5, "start": 0, "num_guided_steps": 6}},
        "output": {"formats": ["gif"]},
    }
