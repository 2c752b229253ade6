"""The pytest plugin for plugin authors: cheap to load, strict plugin loading, textured frames, contract mixins."""

from __future__ import annotations

import subprocess
import sys
import types
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

import f2g_core.gaussian_mixture as gaussian_mixture
import f2g_core.textured_mixture as textured_mixture
from f2g_core.contracts import BackboneContract, RewardContract
from f2g_core.errors import PluginError
from f2g_core.gaussian_mixture import decode_point
from f2g_core.hookspecs import hookimpl
from f2g_core.interfaces import Reward
from f2g_core.pipeline import Pipeline
from f2g_core.testing import reward_batch


def test_the_pytest_plugin_imports_only_pytest() -> None:
    heavy = ("numpy", "torch", "http.server", "pydantic", "f2g_core.interfaces")
    code = f"import sys, f2g_core.testing; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


class Silent(Reward):
    """A reward."""

    name = "silent"

    def score(self, batch):  # pragma: no cover - never scored
        return [0.0] * len(batch)


def test_strict_register_plugin_raises_on_a_broken_or_empty_plugin(register_plugin, monkeypatch) -> None:
    @hookimpl
    def register_rewards(register):
        raise RuntimeError("boom")

    broken = types.SimpleNamespace(register_rewards=register_rewards)
    empty = types.SimpleNamespace(unrelated=lambda: None)
    with pytest.warns(UserWarning, match="boom"):
        assert register_plugin(broken, name="broken").failures  # lenient by default: a warning
    with pytest.raises(PluginError, match=r"'broken'.*RuntimeError: boom"):
        register_plugin(broken, name="broken", strict=True)
    with pytest.raises(PluginError, match=r"'empty'.*registers nothing"):
        register_plugin(empty, name="empty", strict=True)
    monkeypatch.setenv("F2G_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=r"'empty'.*registers nothing"):
        register_plugin(empty, name="empty")

    @hookimpl
    def register_good(register):
        register(Silent)

    good = types.SimpleNamespace(register_rewards=register_good)
    assert "silent" in register_plugin(good, name="good", strict=True).registry.names("reward")


def test_textured_frames_have_content_and_keep_the_point(textured_backbone, gmm_backbone) -> None:
    x0 = torch.tensor([[1.5, -0.7], [-3.0, 2.0]], dtype=torch.float64)
    textured = textured_backbone.decode(x0, [0, 2, 3])
    flat = gmm_backbone.decode(x0, [0, 2, 3])
    assert textured.shape == (2, 3, 32, 32, 3) and 0.0 <= textured.min() <= textured.max() <= 1.0
    assert flat.std(axis=(2, 3)).max() < 1e-6  # flat: why the textured variant exists
    assert textured.std(axis=(2, 3)).min() > 0.01  # every frame has spatial content in every channel
    assert np.abs(textured[:, 0] - textured[:, 1]).max() > 0.1  # frames move over time
    np.testing.assert_allclose(decode_point(reward_batch(textured), 2), x0.numpy(), atol=1e-4)


def test_textured_config_guides_towards_the_target(textured_gmm_config, f2g_registry) -> None:
    with Pipeline.from_config(textured_gmm_config, registry=f2g_registry) as pipeline:
        result = pipeline.generate()
    assert result.video.shape == (4, 32, 32, 3)
    point = decode_point(reward_batch(result.video[None]), 2)[0]
    assert np.linalg.norm(point - np.array([2.0, 2.0])) < 1.0


def test_textured_batch_differs_across_candidates(make_textured_batch) -> None:
    batch = make_textured_batch(n=3, num_key_frames=4, size=24)
    assert batch.frames.shape == (3, 4, 24, 24, 3) and batch.frame_indices == (0, 5, 10, 15)
    assert np.abs(batch.frames[0] - batch.frames[1]).max() > 0.1


class TestModeDistanceContract(RewardContract):
    plugin = gaussian_mixture
    component_id = "mode-distance"


class TestGaussianMixtureContract(BackboneContract):
    plugin = gaussian_mixture
    component_id = "gaussian-mixture"


class TestTexturedMixtureContract(BackboneContract):
    plugin = textured_mixture
    component_id = "gaussian-mixture-textured"
    options: ClassVar[dict[str, Any]] = {"frame_size": 8}
