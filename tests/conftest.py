"""Shared fixtures of the core tests.

The core's tests run twice in scripts/test.sh: where no plugin is installed, and with every plugin installed. A test
marked ``plugin_independent`` runs in the first only: it never loads the installed plugins (it builds its own
registry or tests code that takes none), so the second run could only repeat it. The mark is checked: such a test
fails here if it loads the installed plugins (entry points) all the same. A test that runs ``f2g`` in a subprocess
loads them there: never mark it.
"""

import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import f2g_core.plugins
from f2g_core.gaussian_mixture import GaussianMixtureBackbone
from f2g_core.hookspecs import hookimpl
from f2g_core.plugins import Plugins, default_plugins
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


@pytest.fixture(autouse=True)
def _plugin_independent_tests_load_no_plugin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Fail a ``plugin_independent`` test that loads the installed plugins: its mark would hide it from the run
    where every plugin is installed."""
    if request.node.get_closest_marker("plugin_independent") is None:
        yield
        return

    def refuse(**kwargs: Any) -> Any:
        raise AssertionError(
            f"{request.node.nodeid} is marked plugin_independent but loads the installed plugins ({kwargs}): "
            "remove the mark, so that it runs with every plugin installed too"
        )

    default_plugins.cache_clear()  # plugins loaded by an earlier test would hide the load
    monkeypatch.setattr(f2g_core.plugins, "entry_points", refuse)
    yield
    default_plugins.cache_clear()
