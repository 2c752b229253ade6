"""Precision and memory options: bf16 weights with float32 latents, VAE tiling/slicing and offload passthrough."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from f2g_plugin_diffusers import tiny
from f2g_plugin_diffusers.testing import unguided_sample
from f2g_plugin_diffusers.unet import ModelScopeBackbone
from f2g_plugin_diffusers.wan import WanBackbone

SMALL = {"model": "tiny", "height": 32, "width": 32, "num_frames": 9, "max_sequence_length": 16, "device": "cpu"}


def test_bfloat16_weights_keep_float32_latents_and_a_float32_vae() -> None:
    pipe = tiny.wan()
    backbone = WanBackbone(WanBackbone.Options(**SMALL, dtype="bfloat16"), pipeline=pipe)
    backbone.load()
    assert pipe.transformer.dtype == torch.bfloat16 and pipe.text_encoder.dtype == torch.bfloat16
    assert pipe.vae.dtype == torch.float32  # Wan's default vae_dtype
    noise = torch.randn((1, *backbone.latent_shape()), generator=torch.Generator().manual_seed(0))
    latents = unguided_sample(backbone, "a cat", noise, 3, cfg_scale=5.0)
    assert latents.dtype == torch.float32 and torch.isfinite(latents).all()
    frames = backbone.decode(latents, [0, 8])
    assert frames.shape == (1, 2, 32, 32, 3)


def test_vae_tiling_and_slicing_pass_through() -> None:
    pipe = tiny.modelscope()
    options = ModelScopeBackbone.Options(**{**SMALL, "num_frames": 8}, vae_tiling=True, vae_slicing=True)
    ModelScopeBackbone(options, pipeline=pipe).load()
    assert pipe.vae.use_tiling and pipe.vae.use_slicing


@pytest.mark.parametrize(
    ("offload", "method"), [("model", "enable_model_cpu_offload"), ("sequential", "enable_sequential_cpu_offload")]
)
def test_offload_options_call_diffusers(monkeypatch: pytest.MonkeyPatch, offload: str, method: str) -> None:
    pipe = tiny.wan()
    calls: list[Any] = []
    monkeypatch.setattr(pipe, method, lambda **kw: calls.append(kw))
    WanBackbone(WanBackbone.Options(**SMALL, offload=offload), pipeline=pipe).load()
    assert calls == [{"device": torch.device("cpu")}]


def test_prompt_is_encoded_once_per_video(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = tiny.wan()
    backbone = WanBackbone(WanBackbone.Options(**SMALL), pipeline=pipe)
    backbone.load()
    calls: list[int] = []
    original = pipe.encode_prompt

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(pipe, "encode_prompt", counting)
    noise = torch.randn((1, *backbone.latent_shape()))
    unguided_sample(backbone, "a cat", noise, 3, negative_prompt="blurry", cfg_scale=5.0)
    assert len(calls) == 1
