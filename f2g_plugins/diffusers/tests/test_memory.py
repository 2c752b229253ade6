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


def test_preview_vae_decodes_key_frames_and_not_the_final_video(tmp_path: Any) -> None:
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    taesd: Any = AutoencoderTiny(
        encoder_block_out_channels=(8, 8),
        decoder_block_out_channels=(8, 8),
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
        latent_channels=4,
    )
    taesd.save_pretrained(tmp_path / "taesd")
    pipe = tiny.modelscope()
    exact = ModelScopeBackbone(ModelScopeBackbone.Options(**{**SMALL, "num_frames": 8}), pipeline=pipe)
    preview = ModelScopeBackbone(
        ModelScopeBackbone.Options(**{**SMALL, "num_frames": 8}, preview_vae=str(tmp_path / "taesd")), pipeline=pipe
    )
    x0 = torch.randn((2, *exact.latent_shape()), generator=torch.Generator().manual_seed(0))
    fast = preview.decode(x0, [0, 7])
    assert fast.shape == (2, 2, 32, 32, 3) and fast.min() >= 0.0 and fast.max() <= 1.0
    assert abs(fast - exact.decode(x0, [0, 7])).max() > 1e-3  # a different decoder
    assert (preview.decode_video(x0) == exact.decode_video(x0)).all()  # the final video uses the real VAE
