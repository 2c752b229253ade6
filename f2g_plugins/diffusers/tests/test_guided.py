"""A guided Free²Guide run through the core loop (``f2g_core.pipeline``) on each tiny model, built from config."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, ClassVar

import f2g_plugin_diffusers.plugin as plugin
import numpy as np
import pytest

from f2g_core.hookspecs import hookimpl
from f2g_core.interfaces import Reward, RewardBatch
from f2g_core.pipeline import Pipeline
from f2g_core.testing import isolated_plugins

TINY = {"model": "tiny", "height": 32, "width": 32, "device": "cpu"}
OPTIONS: dict[str, dict[str, Any]] = {
    "wan": {**TINY, "num_frames": 9, "max_sequence_length": 16},
    "cogvideox": {**TINY, "num_frames": 9, "max_sequence_length": 16},
    "ltx-video": {**TINY, "num_frames": 9, "max_sequence_length": 16, "decode_mode": "window"},
    "hunyuan-video": {**TINY, "num_frames": 9, "max_sequence_length": 8},
    "modelscope": {**TINY, "num_frames": 8},
    "videocrafter2-diffusers": {**TINY, "num_frames": 8},
    "animatediff": {**TINY, "num_frames": 8},
}


class Brightness(Reward):
    """Mean pixel value of the key frames: a cheap, deterministic, frame-based reward."""

    name = "brightness"
    calls: ClassVar[list[tuple[int, ...]]] = []

    def score(self, batch: RewardBatch) -> Sequence[float]:
        Brightness.calls.append(batch.frames.shape)
        return [float(v) for v in batch.frames.mean(axis=(1, 2, 3, 4))]


@hookimpl
def register_rewards(register: Any) -> None:
    register(Brightness)


@pytest.fixture(scope="module")
def registry() -> Any:
    plugins = isolated_plugins(
        [("f2g-plugin-diffusers", plugin), ("test-rewards", SimpleNamespace(register_rewards=register_rewards))]
    )
    return plugins.registry


def _config(backbone: str, **guidance: Any) -> dict[str, Any]:
    return {
        "prompt": "a red car driving at night",
        "negative_prompt": "blurry",
        "seed": 3,
        "backbone": {"type": backbone, "options": OPTIONS[backbone]},
        "rewards": [{"type": "brightness"}],
        "sampler": {"num_steps": 3, "eta": 1.0},
        "guidance": {
            "num_candidates": 3,
            "start": 0,
            "num_guided_steps": 2,
            "chunk_size": 2,
            "key_frames": [0, 4, 7],
            **guidance,
        },
    }


@pytest.mark.parametrize("backbone", sorted(OPTIONS))
def test_guided_run_through_core_loop(registry: Any, backbone: str) -> None:
    Brightness.calls.clear()
    with Pipeline.from_config(_config(backbone), registry=registry) as pipeline:
        result = pipeline.generate()
    frames = OPTIONS[backbone]["num_frames"]
    assert result.video.shape == (frames, 32, 32, 3) and result.video.dtype == np.float32
    assert np.isfinite(result.video).all() and 0.0 <= result.video.min() <= result.video.max() <= 1.0
    assert Brightness.calls == [(3, 3, 32, 32, 3)] * 2  # only the 3 key frames of 3 candidates were decoded
    guided = [step for step in result.trace.steps if step.guided]
    assert len(guided) == 2
    for step in guided:
        combined = np.asarray(step.combined, dtype=float)
        assert step.chosen == int(np.nanargmax(combined))
    # T denoiser calls for the chain plus (n - 1) extra per guided step: the chosen x̂0 is reused.
    assert sum(step.model_calls for step in result.trace.steps) == 3 + 2 * (3 - 1)


def test_single_candidate_reproduces_unguided_run(registry: Any) -> None:
    with Pipeline.from_config(_config("wan", num_candidates=1), registry=registry) as pipeline:
        guided = pipeline.generate()
    with Pipeline.from_config(_config("wan", method="none"), registry=registry) as pipeline:
        plain = pipeline.generate()
    np.testing.assert_array_equal(guided.video, plain.video)
