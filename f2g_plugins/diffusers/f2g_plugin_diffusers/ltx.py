"""LTX-Video 0.9.x text-to-video (flow matching with resolution-dependent shift, T5 encoder, 32×8 VAE).

Latents are kept unpacked (channels, frames, H, W) so the core's element-wise transitions apply; they are packed
into the transformer's token sequence inside ``denoise`` and unpacked after, which is a pure permutation. The
schedule uses the pipeline's own shift ``mu`` for the video's token count. The VAE decoder is not causal in
time, so 'exact' decoding decodes the whole video; 'window' decodes a few latents around each key frame (a
fast preview). Checkpoints with a timestep-conditioned decoder (0.9.1+) add seeded decode noise as the pipeline
does (``decode_timestep``, ``decode_noise_scale``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from f2g_core.interfaces import Level, Schedule
from f2g_plugin_diffusers.base import Conditioning, DiffusersBackbone
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
from f2g_plugin_diffusers.schedules import flow_schedule

if TYPE_CHECKING:
    import torch


class LTXVideoBackbone(DiffusersBackbone):
    """LTX-Video text-to-video (flow matching) through diffusers' LTXPipeline components."""

    name = "ltx-video"
    pipeline_class = "LTXPipeline"
    tiny_builder = "ltx"
    prediction = "flow"
    frame_axis = 2
    prefix_exact = False
    spatial_factor = 32

    class Options(DiffusersOptions, WindowDecodeOptions):
        temporal_factor: ClassVar[int] = 8
        cache_types: ClassVar[tuple[str, ...]] = ("first-block", "taylorseer", "pab")
        cache_attention: ClassVar[str] = r"transformer_blocks\.\d+\.attn[12]"
        size_multiple: ClassVar[int] = 32

        model: str = model_field("Lightricks/LTX-Video")
        height: int = height_field(480, 32)
        width: int = width_field(704, 32)
        num_frames: int = num_frames_field(161)
        guidance_scale: float = guidance_scale_field(3.0)
        guidance_rescale: float = Field(0.0, ge=0.0, le=1.0, description="CFG rescale (0 = off).")
        frame_rate: int = Field(25, ge=1, description="Frame rate the rotary embeddings are scaled for.")
        max_sequence_length: int = max_sequence_length_field(128)
        decode_timestep: float = Field(0.0, ge=0.0, description="Decoder timestep (0.9.1+: 0.05 recommended).")
        decode_noise_scale: float | None = Field(None, description="Decode noise mix (default: decode_timestep).")
        decode_seed: int = Field(0, description="Seed of the decode noise (timestep-conditioned decoders).")

    options: Options

    @property
    def fps(self) -> float | None:
        """``options.fps``, else the rate the model is conditioned for (``frame_rate``)."""
        return self.options.fps if self.options.fps is not None else float(self.options.frame_rate)

    def _temporal_factor(self) -> int:
        return int(self.pipe.vae_temporal_compression_ratio)

    def _grid(self) -> tuple[int, int, int]:
        s = int(self.pipe.vae_spatial_compression_ratio)
        frames = num_latent_frames(self.options.num_frames, self._temporal_factor())
        return frames, self.options.height // s, self.options.width // s

    def latent_shape(self) -> tuple[int, ...]:
        return (int(self.pipe.transformer.config.in_channels), *self._grid())

    def _schedule(self, num_steps: int) -> Schedule:
        from diffusers.pipelines.ltx.pipeline_ltx import calculate_shift

        frames, height, width = self._grid()
        config = self.pipe.scheduler.config
        mu = calculate_shift(
            frames * height * width,
            config.get("base_image_seq_len", 256),
            config.get("max_image_seq_len", 4096),
            config.get("base_shift", 0.5),
            config.get("max_shift", 1.15),
        )
        sigmas = np.linspace(1.0, 1 / num_steps, num_steps)
        return flow_schedule(self.pipe.scheduler, num_steps, sigmas=sigmas, mu=mu)

    def _encode(
        self, prompt: str, negative_prompt: str | None, do_cfg: bool
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
        embeds, mask, negative, negative_mask = self.pipe.encode_prompt(
            prompt=prompt,
            negative_prompt=negative_prompt,
            do_classifier_free_guidance=do_cfg,
            num_videos_per_prompt=1,
            max_sequence_length=self.options.max_sequence_length,
            device=self.device,
        )
        dtype = self.model_dtype
        cond = {"encoder_hidden_states": embeds.to(dtype), "encoder_attention_mask": mask}
        uncond = {"encoder_hidden_states": negative.to(dtype), "encoder_attention_mask": negative_mask}
        return cond, (uncond if do_cfg else None)

    def encode_prompt(self, prompt: str, negative_prompt: str | None, cfg_scale: float | None) -> Conditioning:
        cond = super().encode_prompt(prompt, negative_prompt, cfg_scale)
        cond.guidance_rescale = self.options.guidance_rescale
        return cond

    def _call_model(self, latents: torch.Tensor, level: Level, kwargs: dict[str, Any], cond: Conditioning) -> Any:
        import torch

        pipe, model = self.pipe, self.pipe.transformer
        p, pt = pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size
        frames, height, width = latents.shape[2:]
        packed = pipe._pack_latents(latents, p, pt).to(model.dtype)
        timestep = torch.full((latents.shape[0],), level.timestep, device=latents.device, dtype=torch.float32)
        r, s = self._temporal_factor(), int(pipe.vae_spatial_compression_ratio)
        out = model(
            hidden_states=packed,
            timestep=timestep,
            num_frames=frames,
            height=height,
            width=width,
            rope_interpolation_scale=(r / self.options.frame_rate, s, s),
            return_dict=False,
            **kwargs,
        )[0]
        return pipe._unpack_latents(out.float(), frames // pt, height // p, width // p, p, pt)

    def _vae_decode(self, latents: torch.Tensor) -> torch.Tensor:
        import torch

        vae = self.pipe.vae
        latents = self.pipe._denormalize_latents(latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)
        timestep = None
        if vae.config.timestep_conditioning:
            generator = torch.Generator().manual_seed(self.options.decode_seed)
            noise = torch.randn(latents.shape, generator=generator).to(latents.device, latents.dtype)
            scale = self.options.decode_noise_scale
            scale = self.options.decode_timestep if scale is None else scale
            timestep = torch.full((latents.shape[0],), self.options.decode_timestep, device=latents.device)
            latents = (1 - scale) * latents + scale * noise
        return vae.decode(latents.to(vae.dtype), timestep, return_dict=False)[0]
