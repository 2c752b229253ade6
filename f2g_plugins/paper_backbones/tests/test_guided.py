"""Guided runs on the tiny paper backbones: through the core pipeline (every search method) and through ``f2g run``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import f2g_plugin_paper_backbones.plugin as plugin
import numpy as np
import pytest
import yaml

from f2g_core.hookspecs import hookimpl
from f2g_core.interfaces import Reward, RewardBatch
from f2g_core.pipeline import Pipeline
from f2g_core.testing import isolated_plugins

BACKBONES = ["videocrafter2", "lavie"]
TINY = {"model": "tiny", "device": "cpu"}  # 16×16, 8 frames: the tiny defaults


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
        [("f2g-plugin-paper-backbones", plugin), ("test-rewards", SimpleNamespace(register_rewards=register_rewards))]
    )
    return plugins.registry


def _config(backbone: str, **guidance: Any) -> dict[str, Any]:
    return {
        "prompt": "a red car driving at night",
        "seed": 3,
        "backbone": {"type": backbone, "options": TINY},
        "rewards": [{"type": "brightness"}],
        "sampler": {"num_steps": 3, "eta": 1.0},
        "guidance": {"num_candidates": 3, "start": 0, "num_guided_steps": 2, "key_frames": [0, 4, 7], **guidance},
    }


@pytest.mark.parametrize("backbone", BACKBONES)
def test_free2guide_decodes_only_key_frames(registry: Any, backbone: str) -> None:
    Brightness.calls.clear()
    with Pipeline.from_config(_config(backbone), registry=registry) as pipeline:
        result = pipeline.generate()
    assert result.video.shape == (8, 16, 16, 3) and result.video.dtype == np.float32
    assert np.isfinite(result.video).all() and 0.0 <= result.video.min() <= result.video.max() <= 1.0
    assert Brightness.calls == [(3, 3, 16, 16, 3)] * 2  # the 3 key frames of 3 candidates, per guided step
    guided = [step for step in result.trace.steps if step.guided]
    assert len(guided) == 2
    assert all(step.chosen == int(np.nanargmax(np.asarray(step.combined, dtype=float))) for step in guided)
    assert sum(step.model_calls for step in result.trace.steps) == 3 + 2 * (3 - 1)  # one batched call per step


@pytest.mark.parametrize("backbone", BACKBONES)
def test_prompt_is_encoded_once_per_video(registry: Any, backbone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cls = registry.get("backbone", backbone, "backbone.type").cls
    calls: list[str] = []
    original = cls._encode_text

    def counted(self: Any, prompt: str) -> Any:
        calls.append(prompt)
        return original(self, prompt)

    monkeypatch.setattr(cls, "_encode_text", counted)
    with Pipeline.from_config(_config(backbone), registry=registry) as pipeline:
        pipeline.generate()
    assert calls == ["a red car driving at night", ""]  # prompt and the empty negative, once each


@pytest.mark.parametrize("backbone", BACKBONES)
def test_best_of_n_runs(registry: Any, backbone: str) -> None:
    with Pipeline.from_config(_config(backbone, method="best-of-n", num_candidates=2), registry=registry) as pipeline:
        result = pipeline.generate()
    assert result.video.shape == (8, 16, 16, 3) and np.isfinite(result.video).all()


@pytest.mark.parametrize("backbone", BACKBONES)
def test_single_candidate_reproduces_unguided_run(registry: Any, backbone: str) -> None:
    with Pipeline.from_config(_config(backbone, num_candidates=1), registry=registry) as pipeline:
        guided = pipeline.generate()
    with Pipeline.from_config(_config(backbone, method="none"), registry=registry) as pipeline:
        plain = pipeline.generate()
    np.testing.assert_array_equal(guided.video, plain.video)


REWARD_PLUGIN = '''
from collections.abc import Sequence
from f2g_core.hookspecs import hookimpl
from f2g_core.interfaces import Reward, RewardBatch


class Brightness(Reward):
    """Mean pixel value of the key frames."""

    name = "brightness"

    def score(self, batch: RewardBatch) -> Sequence[float]:
        return [float(v) for v in batch.frames.mean(axis=(1, 2, 3, 4))]


@hookimpl
def register_rewards(register):
    register(Brightness)
'''


@pytest.mark.parametrize("backbone", BACKBONES)
def test_f2g_run_completes_offline(tmp_path: Path, backbone: str) -> None:
    """``f2g run`` on ``backbone: {type: <id>, options: {model: tiny}}`` with a reward plugin, as a user would."""
    (tmp_path / "f2g_brightness_plugin.py").write_text(REWARD_PLUGIN)
    dist = tmp_path / "f2g_brightness-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: f2g-brightness\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[f2g]\nbrightness = f2g_brightness_plugin\n")
    config = {
        "prompt": "a red car driving at night",
        "backbone": {"type": backbone, "options": {"model": "tiny"}},
        "rewards": [{"type": "brightness"}],
        "sampler": {"num_steps": 3},
        "guidance": {"num_candidates": 2, "num_guided_steps": 1},
        "output": {"dir": str(tmp_path / "runs"), "formats": ["gif"]},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(tmp_path),
        "F2G_LOAD_PLUGINS": "paper-backbones,brightness",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from f2g_core.cli import main; main()", "run", str(path), "--seed", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "runs").rglob("*.gif"))


@pytest.mark.parametrize("backbone", BACKBONES)
def test_bfloat16_weights_run_and_stay_close(registry: Any, backbone: str) -> None:
    """Half-precision weights (the GPU default is float16; bfloat16 runs on the CPU): latents stay float32."""
    import torch

    cls = registry.get("backbone", backbone, "backbone.type").cls
    results = []
    for dtype in ("float32", "bfloat16"):
        model = cls(cls.Options(model="tiny", device="cpu", dtype=dtype, height=8, width=8, num_frames=4))
        cond = model.encode_prompt("a red car", None, None)
        schedule = model.schedule(3)
        x = torch.randn(1, *model.latent_shape(), generator=torch.Generator().manual_seed(0))
        x0 = model.denoise(x, schedule.level(2), cond)
        assert x0.dtype == torch.float32
        results.append((x0, model.decode(x0, [0, 3])))
    (x0_32, frames_32), (x0_16, frames_16) = results
    assert np.isfinite(frames_16).all() and float(np.abs(frames_16 - frames_32).max()) < 0.2
    assert float((x0_16 - x0_32).abs().max()) < 0.1 * float(x0_32.abs().max())
