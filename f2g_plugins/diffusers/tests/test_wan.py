"""Wan: parity with WanPipeline (latents and decoded frames), Wan 2.2 experts, key-frame decoding, options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from f2g_plugin_diffusers import tiny
from f2g_plugin_diffusers.testing import unguided_sample
from f2g_plugin_diffusers.wan import WanBackbone
from pydantic import ValidationError

from f2g_core.testing import assert_close_to_scale

PROMPT, NEGATIVE = "a red car on a beach", "blurry"
STEPS = 4


@pytest.fixture(scope="module")
def pipe():
    return tiny.wan()


def _backbone(pipe, **options) -> WanBackbone:
    opts = WanBackbone.Options(
        model="tiny", height=32, width=32, num_frames=9, max_sequence_length=16, device="cpu", **options
    )
    return WanBackbone(opts, pipeline=pipe)


def _noise(backbone: WanBackbone, seed: int = 0, n: int = 1) -> torch.Tensor:
    return torch.randn((n, *backbone.latent_shape()), generator=torch.Generator().manual_seed(seed))


def _reference(pipe, noise, output_type="latent", **kw):
    return pipe(
        PROMPT,
        negative_prompt=NEGATIVE,
        height=32,
        width=32,
        num_frames=9,
        num_inference_steps=STEPS,
        guidance_scale=5.0,
        latents=noise.clone(),
        output_type=output_type,
        max_sequence_length=16,
        **kw,
    ).frames


def test_latent_parity_with_pipeline(pipe) -> None:
    backbone = _backbone(pipe)
    noise = _noise(backbone)
    ours = unguided_sample(backbone, PROMPT, noise, STEPS, negative_prompt=NEGATIVE, cfg_scale=5.0)
    torch.testing.assert_close(ours, _reference(pipe, noise), atol=1e-4, rtol=1e-4)


def test_decoded_parity_and_exact_key_frames(pipe) -> None:
    backbone = _backbone(pipe)
    noise = _noise(backbone, seed=1)
    ours = unguided_sample(backbone, PROMPT, noise, STEPS, negative_prompt=NEGATIVE, cfg_scale=5.0)
    video = backbone.decode_video(ours)
    np.testing.assert_allclose(video, _reference(pipe, noise, output_type="np"), atol=1e-4)
    keys = [0, 3, 6]
    np.testing.assert_array_equal(backbone.decode(ours, keys), video[:, keys])  # causal prefix: exact


def test_window_preview_decode_shapes(pipe) -> None:
    backbone = _backbone(pipe, decode_mode="window")
    x0 = _noise(backbone, n=2)
    frames = backbone.decode(x0, [0, 4, 8])
    assert frames.shape == (2, 3, 32, 32, 3) and frames.dtype == np.float32
    assert frames.min() >= 0.0 and frames.max() <= 1.0


def test_wan22_two_experts_parity() -> None:
    pipe = tiny.wan()
    pipe.transformer_2 = tiny.wan(seed=1).transformer
    pipe.register_to_config(boundary_ratio=0.5)
    backbone = _backbone(pipe, guidance_scale_2=3.0)
    noise = _noise(backbone)
    ours = unguided_sample(backbone, PROMPT, noise, STEPS, negative_prompt=NEGATIVE, cfg_scale=5.0)
    ref = _reference(pipe, noise, guidance_scale_2=3.0)
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)


def test_wan22_ti2v_per_token_timesteps_parity(pipe) -> None:
    from diffusers import WanPipeline

    parts = {k: getattr(pipe, k) for k in ("tokenizer", "text_encoder", "vae", "transformer", "scheduler")}
    ti2v = WanPipeline(**parts, expand_timesteps=True)
    backbone = _backbone(ti2v)
    noise = _noise(backbone, seed=4)
    ours = unguided_sample(backbone, PROMPT, noise, STEPS, negative_prompt=NEGATIVE, cfg_scale=5.0)
    torch.testing.assert_close(ours, _reference(ti2v, noise), atol=1e-4, rtol=1e-4)


def test_no_cfg_single_batch(pipe) -> None:
    backbone = _backbone(pipe)
    cond = backbone.encode_prompt(PROMPT, None, 1.0)
    assert cond.uncond is None
    level = backbone.schedule(STEPS).level(0)
    x0 = backbone.denoise(_noise(backbone, n=3), level, cond)
    assert x0.shape == (3, *backbone.latent_shape()) and x0.dtype == torch.float32


def test_candidates_are_independent_of_batching(pipe) -> None:
    backbone = _backbone(pipe)
    cond = backbone.encode_prompt(PROMPT, NEGATIVE, 5.0)
    level = backbone.schedule(STEPS).level(1)
    latents = _noise(backbone, n=3)
    batched = backbone.denoise(latents, level, cond)
    single = torch.cat([backbone.denoise(latents[i : i + 1], level, cond) for i in range(3)])
    assert_close_to_scale(batched, single, ulps=512, what="x̂0 batched vs one by one")


def test_frame_rule_error_is_clear() -> None:
    with pytest.raises(ValidationError, match=r"4k\+1.*use 77 or 81"):
        WanBackbone.Options(num_frames=80)
    with pytest.raises(ValidationError, match="multiple of 16"):
        WanBackbone.Options(height=470)
