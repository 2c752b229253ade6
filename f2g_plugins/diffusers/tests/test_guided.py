"""A guided Free²Guide run through the core loop (``f2g_core.pipeline``) on each tiny model, built from config."""

from __future__ import annotations

from typing import Any

import f2g_plugin_diffusers.plugin as plugin
import numpy as np
import pytest
from f2g_plugin_diffusers.framemap import num_latent_frames, prefix_span, window_spans

from f2g_core.gaussian_mixture import Brightness
from f2g_core.pipeline import Pipeline
from f2g_core.testing import assert_same_as_one_at_a_time, isolated_plugins

TINY = {"model": "tiny", "height": 32, "width": 32, "device": "cpu"}
ONE_AT_A_TIME_ULPS = 8192  # worst seen: 851 (shapes, SSE kernels); docs/testing.md
OPTIONS: dict[str, dict[str, Any]] = {
    "wan": {**TINY, "num_frames": 9, "max_sequence_length": 16},
    "cogvideox": {**TINY, "num_frames": 9, "max_sequence_length": 16},
    "ltx-video": {**TINY, "num_frames": 9, "max_sequence_length": 16, "decode_mode": "window"},
    "hunyuan-video": {**TINY, "num_frames": 9, "max_sequence_length": 8},
    "modelscope": {**TINY, "num_frames": 8},
    "videocrafter2-diffusers": {**TINY, "num_frames": 8},
    "animatediff": {**TINY, "num_frames": 8},
}


@pytest.fixture(scope="module")
def registry() -> Any:
    return isolated_plugins([("f2g-plugin-diffusers", plugin)]).registry  # with the test reward ``brightness``


def _config(backbone: str, method: str = "free2guide", **options: Any) -> dict[str, Any]:
    return {
        "prompt": "a red car driving at night",
        "negative_prompt": "blurry",
        "seed": 3,
        "backbone": {"type": backbone, "options": OPTIONS[backbone]},
        "rewards": [{"type": "brightness"}],
        "sampler": {"num_steps": 3, "eta": 1.0},
        "guidance": {
            "method": method,
            "options": {"num_candidates": 3, "start": 0, "num_guided_steps": 2, **options} if method != "none" else {},
            "chunk_size": 2,
            "key_frames": [0, 4, 7],
        },
    }


def count_vae_frames(vae: Any) -> list[int]:
    """Instrument ``vae.decode``: the returned list gets the number of video frames each call produced."""
    decode = vae.decode
    produced: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        out = decode(*args, **kwargs)
        sample = out[0] if isinstance(out, tuple) else out.sample
        # 2D VAEs return (B·F, 3, H, W); video VAEs (B, 3, F, H, W)
        produced.append(sample.shape[0] if sample.ndim == 4 else sample.shape[0] * sample.shape[2])
        return out

    vae.decode = counting
    return produced


def frames_for_key_frames(backbone: Any, key_frames: list[int]) -> int:
    """Video frames the VAE must produce to give one candidate's key frames: only those for a per-frame VAE; for a
    causal video VAE the latent span(s) holding them (a latent span [a, b) decodes to 1 + r·(b − a − 1) frames)."""
    if backbone.per_frame_vae:
        return len(key_frames)
    r = backbone._temporal_factor()
    latents = num_latent_frames(backbone.num_frames, r)
    if getattr(backbone.options, "decode_mode", "exact") == "window":
        spans = [(s.start, s.stop) for s in window_spans(key_frames, r, backbone.options.window_context)]
    else:
        spans = [
            (prefix_span(key_frames, r).start, prefix_span(key_frames, r).stop if backbone.prefix_exact else latents)
        ]
    return sum(1 + r * (stop - start - 1) for start, stop in spans)


# ModelScope and VideoCrafter2 take the loop's per-frame-VAE path that AnimateDiff's run takes in the default run (their
# denoisers and decoders are checked by their contract tests); their runs are the slowest here: `heavy`.
@pytest.mark.parametrize(
    "backbone",
    [
        pytest.param(b, marks=pytest.mark.heavy) if b in ("modelscope", "videocrafter2-diffusers") else b
        for b in sorted(OPTIONS)
    ],
)
def test_guided_run_through_core_loop(registry: Any, backbone: str) -> None:
    Brightness.calls.clear()
    key_frames = [0, 4, 7]
    with Pipeline.from_config(_config(backbone), registry=registry) as pipeline:
        pipeline.load()
        produced = count_vae_frames(pipeline.backbone.pipe.vae)
        result = pipeline.generate()
        per_candidate = frames_for_key_frames(pipeline.backbone, key_frames)
    frames = OPTIONS[backbone]["num_frames"]
    assert result.video.shape == (frames, 32, 32, 3) and result.video.dtype == np.float32
    assert np.isfinite(result.video).all() and 0.0 <= result.video.min() <= result.video.max() <= 1.0
    assert Brightness.calls == [(3, 3, 32, 32, 3)] * 2  # the reward saw the 3 key frames of 3 candidates
    # What the VAE really decoded: 2 guided steps × 3 candidates × what their key frames need, then the video once.
    assert sum(produced) == 2 * 3 * per_candidate + frames, produced
    if pipeline.backbone.per_frame_vae:
        assert per_candidate == 3 < frames  # the key frames only, not the whole video
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


@pytest.mark.numerics
@pytest.mark.parametrize("backbone", sorted(OPTIONS))
def test_generate_many_batches_prompts_and_equals_one_video_at_a_time(registry: Any, backbone: str) -> None:
    config = _config(backbone, method="best-of-n")
    config["guidance"].update(options={"num_candidates": 2}, chunk_size=None)  # both prompts in every call
    with Pipeline.from_config(config, registry=registry) as pipeline:
        assert pipeline.backbone.batched_conditioning
        many = pipeline.generate_many(["a red car driving at night", "a cat on a sunny windowsill"], seeds=[3])
        assert_same_as_one_at_a_time(pipeline, many, ulps=ONE_AT_A_TIME_ULPS)
