"""CogVideoX 2B / 5B / 1.5-5B text-to-video (v-prediction DDIM, T5 text encoder, causal 3D VAE).

Latents are (frames, channels, H, W) per sample, as the pipeline keeps them. CogVideoX 1.5 (``patch_size_t``)
pads the latent frames to a multiple of the temporal patch; the padding frames come first and are dropped before
decoding, exactly as the pipeline does. ``use_dynamic_cfg`` reproduces the pipeline's cosine CFG schedule
(recommended for 1.5). The VAE decodes latent frames in small causal batches whose group norms see the whole
batch, so a latent prefix is not bit-exact: 'exact' decoding decodes the whole video and picks the key frames,
'window' decodes a few latents around each key frame (a fast preview).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from f2g_core.interfaces import Level
from f2g_plugin_diffusers.base import Conditioning, DDIMBackbone
from f2g_plugin_diffusers.framemap import num_latent_frames
from f2g_plugin_diffusers.options import (
    DiffusersOptions,
    WindowDecodeOptions,
    guidance_scale_field,
    height_field,
    max_sequence_length_field,
    model_field,
    num_frames_field,
    width_field,
)

if TYPE_CHECKING:
    import torch


class CogVideoXBackbone(DDIMBackbone):
    """CogVideoX text-to-video (v-prediction, DDIM) through diffusers' CogVideoXPipeline components."""

    name = "cogvideox"
    pipeline_class = "CogVideoXPipeline"
    tiny_builder = "cogvideox"
    frame_axis = 1
    prefix_exact = False

    class Options(DiffusersOptions, WindowDecodeOptions):
        temporal_factor: ClassVar[int] = 4
        native_fps: ClassVar[float | None] = 8.0  # CogVideoX's 49 frames are 6 s (CogVideoX1.5: 16, set fps)
        cache_types: ClassVar[tuple[str, ...]] = ("first-block", "faster", "taylorseer", "pab")
        cache_attention: ClassVar[str] = r"transformer_blocks\.\d+\.attn1"
        cache_tensor_format: ClassVar[str | None] = "BFCHW"
        size_multiple: ClassVar[int] = 16
        flow_matching: ClassVar[bool] = False

        model: str = model_field("THUDM/CogVideoX-2b")
        height: int = height_field(480, 16)
        width: int = width_field(720, 16)
        num_frames: int = num_frames_field(49)
        guidance_scale: float = guidance_scale_field(6.0)
        use_dynamic_cfg: bool = Field(False, description="The pipeline's cosine CFG schedule (CogVideoX 1.5).")
        max_sequence_length: int = max_sequence_length_field(226)

    options: Options

    def _temporal_factor(self) -> int:
        return int(self.pipe.vae_scale_factor_temporal)

    def _padding(self) -> int:
        """Latent frames CogVideoX 1.5 prepends so the count divides its temporal patch."""
        frames = num_latent_frames(self.options.num_frames, self._temporal_factor())
        patch_t = self.pipe.transformer.config.patch_size_t
        return 0 if patch_t is None or frames % patch_t == 0 else patch_t - frames % patch_t

    def latent_shape(self) -> tuple[int, ...]:
        s = int(self.pipe.vae_scale_factor_spatial)
        frames = num_latent_frames(self.options.num_frames, self._temporal_factor()) + self._padding()
        channels = int(self.pipe.transformer.config.in_channels)
        return (frames, channels, self.options.height // s, self.options.width // s)

    def _encode(
        self, prompt: str, negative_prompt: str | None, do_cfg: bool
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
        embeds, negative = self.pipe.encode_prompt(
            prompt,
            negative_prompt,
            do_cfg,
            num_videos_per_prompt=1,
            max_sequence_length=self.options.max_sequence_length,
            device=self.device,
        )
        dtype = self.model_dtype
        uncond = {"encoder_hidden_states": negative.to(dtype)} if do_cfg else None
        return {"encoder_hidden_states": embeds.to(dtype)}, uncond

    def encode_prompt(self, prompt: str, negative_prompt: str | None, cfg_scale: float | None) -> Conditioning:
        cond = super().encode_prompt(prompt, negative_prompt, cfg_scale)
        if self.pipe.transformer.config.use_rotary_positional_embeddings:
            frames = self.latent_shape()[0]
            cond.extra["image_rotary_emb"] = self.pipe._prepare_rotary_positional_embeddings(
                self.options.height, self.options.width, frames, self.device
            )
        return cond

    def _cfg_scale(self, level: Level, cond: Conditioning) -> float:
        if not self.options.use_dynamic_cfg:
            return cond.scale
        steps = self._schedule_steps or 50  # as the pipeline: its formula mixes timesteps and the step count
        return 1 + cond.scale * ((1 - math.cos(math.pi * ((steps - level.timestep) / steps) ** 5.0)) / 2)

    def _call_model(self, latents: torch.Tensor, level: Level, kwargs: dict[str, Any], cond: Conditioning) -> Any:
        model = self.pipe.transformer
        return model(
            hidden_states=latents.to(model.dtype),
            timestep=self._timesteps(level, latents.shape[0]),
            image_rotary_emb=cond.extra.get("image_rotary_emb"),
            return_dict=False,
            **kwargs,
        )[0]

    def _trim(self, latents: torch.Tensor) -> torch.Tensor:
        return latents[:, self._padding() :]

    def _vae_decode(self, latents: torch.Tensor) -> torch.Tensor:
        vae = self.pipe.vae
        latents = latents.permute(0, 2, 1, 3, 4).to(vae.dtype) / vae.config.scaling_factor
        return vae.decode(latents).sample
