"""Guided runs on the tiny paper backbones: through the core pipeline (every search method) and through ``f2g run``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import f2g_plugin_paper_backbones.plugin as plugin
import numpy as np
import pytest
import yaml

from f2g_core.gaussian_mixture import Brightness
from f2g_core.interfaces import Backbone
from f2g_core.pipeline import Pipeline
from f2g_core.testing import assert_same_as_one_at_a_time, install_fake_distribution, isolated_plugins

BACKBONES = ["videocrafter2", "lavie"]
TINY = {"model": "tiny", "device": "cpu"}  # 16×16, 8 frames: the tiny defaults
ONE_AT_A_TIME_ULPS = 8192  # worst seen: 851 (shapes, SSE kernels); docs/testing.md


@pytest.fixture(scope="module")
def registry() -> Any:
    return isolated_plugins([("f2g-plugin-paper-backbones", plugin)]).registry  # with the test reward ``brightness``


METHOD_DEFAULTS: dict[str, dict[str, Any]] = {"free2guide": {"num_candidates": 3, "start": 0, "num_guided_steps": 2}}


def _config(backbone: str, method: str = "free2guide", **options: Any) -> dict[str, Any]:
    return {
        "prompt": "a red car driving at night",
        "seed": 3,
        "backbone": {"type": backbone, "options": TINY},
        "rewards": [{"type": "brightness"}],
        "sampler": {"num_steps": 3, "eta": 1.0},
        "guidance": {
            "method": method,
            "options": {**METHOD_DEFAULTS.get(method, {}), **options},
            "key_frames": [0, 4, 7],
        },
    }


def count_vae_frames(backbone: Any) -> list[int]:
    """Instrument the loaded backbone's per-frame VAE: the list gets the number of frames each decode produced."""
    vae = backbone.nets.vae
    decode = vae.decode
    produced: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        out = decode(*args, **kwargs)
        produced.append(int(out.sample.shape[0]))  # (frames, 3, H, W): the SD VAE decodes images
        return out

    vae.decode = counting
    return produced


@pytest.mark.parametrize("backbone", BACKBONES)
def test_free2guide_decodes_only_key_frames(registry: Any, backbone: str) -> None:
    Brightness.calls.clear()
    with Pipeline.from_config(_config(backbone), registry=registry) as pipeline:
        pipeline.load()
        produced = count_vae_frames(pipeline.backbone)
        result = pipeline.generate()
    assert result.video.shape == (8, 16, 16, 3) and result.video.dtype == np.float32
    assert np.isfinite(result.video).all() and 0.0 <= result.video.min() <= result.video.max() <= 1.0
    assert Brightness.calls == [(3, 3, 16, 16, 3)] * 2  # the 3 key frames of 3 candidates, per guided step
    # What the VAE really decoded: 2 guided steps × 3 candidates × 3 key frames, then the chosen video once.
    assert sum(produced) == 2 * 3 * 3 + 8, produced
    guided = [step for step in result.trace.steps if step.guided]
    assert len(guided) == 2
    assert all(step.chosen == int(np.nanargmax(np.asarray(step.combined, dtype=float))) for step in guided)
    # T calls for the chain plus (n - 1) per guided step (the chosen candidate's x̂0 is reused)
    assert sum(step.model_calls for step in result.trace.steps) == 3 + 2 * (3 - 1)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_the_loop_steps_with_the_backbones_own_transition(
    registry: Any, backbone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sampler moves latents with ``backbone.transition``: VideoCrafter2's is the reference sampler's step for a
    schedule that is not variance-preserving (alpha = s_t·sqrt(ᾱ_t)), which the generic Gaussian step is not."""
    cls = registry.get("backbone", backbone, "backbone.type").cls
    calls: list[int] = []
    original = cls.transition

    def counted(self: Any, latents: Any, *args: Any) -> Any:
        calls.append(int(latents.shape[0]))
        return original(self, latents, *args)

    monkeypatch.setattr(cls, "transition", counted)
    with Pipeline.from_config(_config(backbone), registry=registry) as pipeline:
        pipeline.generate()
        schedule = pipeline.backbone.schedule(3)
    assert calls == [3, 3, 1]  # 2 guided steps of 3 candidates, then the last step plainly
    off_unit = max(abs(a * a + s * s - 1.0) for a, s in zip(schedule.alphas, schedule.sigmas, strict=True))
    if backbone == "videocrafter2":
        assert cls.transition is not Backbone.transition and off_unit > 0.1
    else:  # LaVie's DDIM schedule is variance-preserving: the generic step is its DDIM step
        assert off_unit < 1e-6


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
def test_best_of_n_scores_finished_videos_and_keeps_the_best(registry: Any, backbone: str) -> None:
    Brightness.calls.clear()
    with Pipeline.from_config(_config(backbone, method="best-of-n", num_candidates=2), registry=registry) as pipeline:
        pipeline.load()
        produced = count_vae_frames(pipeline.backbone)
        result = pipeline.generate()
    assert result.video.shape == (8, 16, 16, 3) and np.isfinite(result.video).all()
    assert Brightness.calls == [(2, 3, 16, 16, 3)]  # once, the key frames of the 2 finished videos
    assert sum(produced) == 2 * 3 + 8, produced
    final = result.trace.final
    assert final is not None and final.chosen == int(np.nanargmax(np.asarray(final.combined, dtype=float)))
    assert not any(step.guided for step in result.trace.steps)
    assert sum(step.model_calls for step in result.trace.steps) == 2 * 3  # N·T: the chains share every call


@pytest.mark.parametrize("backbone", BACKBONES)
def test_single_candidate_reproduces_unguided_run(registry: Any, backbone: str) -> None:
    with Pipeline.from_config(_config(backbone, num_candidates=1), registry=registry) as pipeline:
        guided = pipeline.generate()
    with Pipeline.from_config(_config(backbone, method="none"), registry=registry) as pipeline:
        plain = pipeline.generate()
    np.testing.assert_array_equal(guided.video, plain.video)
    np.testing.assert_array_equal(guided.latents.numpy(), plain.latents.numpy())


@pytest.mark.numerics
@pytest.mark.parametrize("backbone", BACKBONES)
def test_generate_many_batches_prompts_and_equals_one_video_at_a_time(registry: Any, backbone: str) -> None:
    """Both backbones declare batched conditioning: two prompts share every UNet call, and each video is the one
    :meth:`Pipeline.generate` makes for its prompt and seed (up to the rounding of batched matmuls)."""
    config = _config(backbone, method="best-of-n", num_candidates=2)
    with Pipeline.from_config(config, registry=registry) as pipeline:
        assert pipeline.backbone.batched_conditioning
        pipeline.load()
        rows: list[int] = []
        unet = pipeline.backbone.nets.unet
        forward = unet.forward

        def counted(latents: Any, *args: Any, **kwargs: Any) -> Any:
            rows.append(int(latents.shape[0]))
            return forward(latents, *args, **kwargs)

        unet.forward = counted
        many = pipeline.generate_many(["a red car driving at night", "a cat on a sunny windowsill"], seeds=[3])
        assert rows == [2 * 2 * 2] * 3  # 2 videos × 2 chains, doubled for CFG, in one call per step
        assert_same_as_one_at_a_time(pipeline, many, ulps=ONE_AT_A_TIME_ULPS)


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
    install_fake_distribution(tmp_path, "f2g-brightness", "0.1", "brightness = f2g_brightness_plugin")
    config = {
        "prompt": "a red car driving at night",
        "backbone": {"type": backbone, "options": {"model": "tiny"}},
        "rewards": [{"type": "brightness"}],
        "sampler": {"num_steps": 3},
        "guidance": {"method": "free2guide", "options": {"num_candidates": 2, "num_guided_steps": 1}},
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


@pytest.mark.parametrize("backbone", BACKBONES)
def test_fps_is_none_unless_given(registry: Any, backbone: str) -> None:
    """The papers fix no playback rate for their 16 frames: video rewards that sample by time must be told one."""
    cls = registry.get("backbone", backbone, "backbone.type").cls
    assert cls(cls.Options(**TINY)).fps is None
    assert cls(cls.Options(**TINY, fps=8)).fps == 8.0
