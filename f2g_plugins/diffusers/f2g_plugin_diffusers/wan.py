"""Wan 2.1 / 2.2 text-to-video (flow matching, UMT5 text encoder, causal 3D VAE).

Wan 2.2 A14B has two experts: ``transformer`` for high noise and ``transformer_2`` below
``boundary_ratio * 1000``; each has its own CFG scale (``guidance_scale_2``). Wan 2.2 TI2V-5B
(``expand_timesteps``) gets a per-token timestep. The VAE decodes latent frame by latent frame with a causal
cache, so a latent prefix decodes exactly to the same leading frames as the full video.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

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


class WanBackbone(DiffusersBackbone):
    """Wan 2.1 / 2.2 text-to-video (flow matching) through diffusers' WanPipeline components."""

    name = "wan"
    pipeline_class = "WanPipeline"
    tiny_builder = "wan"
    prediction = "flow"
    frame_axis = 2
    denoiser_names = ("transformer", "transformer_2")

    class Options(DiffusersOptions, WindowDecodeOptions):
        temporal_factor: ClassVar[int] = 4
        native_fps: ClassVar[float | None] = 16.0  # Wan 2.1's 81 frames are 5 s (Wan2.2-TI2V-5B: 24, set fps)
        cache_types: ClassVar[tuple[str, ...]] = ("first-block", "faster", "taylorseer", "pab")
        cache_attention: ClassVar[str] = r"blocks\.\d+\.attn[12]"
        cache_tensor_format: ClassVar[str | None] = "BCFHW"
        size_multiple: ClassVar[int] = 16

        model: str = model_field("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
        vae_dtype: Literal["auto", "float32", "float16", "bfloat16"] | None = Field(
            "float32", description="Wan's VAE is recommended in float32."
        )
        height: int = height_field(480, 16)
        width: int = width_field(832, 16)
        num_frames: int = num_frames_field(81)
        guidance_scale: float = guidance_scale_field(5.0)
        guidance_scale_2: float | None = Field(
            None, description="Wan 2.2 A14B: CFG scale of the low-noise expert (default: guidance_scale)."
        )
        max_sequence_length: int = max_sequence_length_field(512)

    options: Options

    def _temporal_factor(self) -> int:
        return int(self.pipe.vae.config.scale_factor_temporal)

    def _spatial_factor(self) -> int:
        return int(self.pipe.vae.config.scale_factor_spatial)

    def _denoiser(self) -> Any:
        return self.pipe.transformer if self.pipe.transformer is not None else self.pipe.transformer_2

    def latent_shape(self) -> tuple[int, ...]:
        s = self._spatial_factor()
        channels = int(self._denoiser().config.in_channels)
        frames = num_latent_frames(self.options.num_frames, self._temporal_factor())
        return (channels, frames, self.options.height // s, self.options.width // s)

    def _schedule(self, num_steps: int) -> Schedule:
        return flow_schedule(self.pipe.scheduler, num_steps)

    def _encode(
        self, prompt: str, negative_prompt: str | None, do_cfg: bool
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
        embeds, negative = self.pipe.encode_prompt(
            prompt=prompt,
            negative_prompt=negative_prompt,
            do_classifier_free_guidance=do_cfg,
            num_videos_per_prompt=1,
            max_sequence_length=self.options.max_sequence_length,
            device=self.device,
        )
        dtype = self.model_dtype
        uncond = {"encoder_hidden_states": negative.to(dtype)} if negative is not None else None
        return {"encoder_hidden_states": embeds.to(dtype)}, uncond

    def _boundary(self) -> float | None:
        ratio = self.pipe.config.boundary_ratio
        return None if ratio is None else float(ratio) * float(self.pipe.scheduler.config.num_train_timesteps)

    def _low_noise(self, level: Level) -> bool:
        boundary = self._boundary()
        return boundary is not None and level.timestep < boundary

    def _cfg_scale(self, level: Level, cond: Conditioning) -> float:
        if self._low_noise(level) and self.options.guidance_scale_2 is not None:
            return self.options.guidance_scale_2
        return cond.scale

    def _call_model(self, latents: torch.Tensor, level: Level, kwargs: dict[str, Any], cond: Conditioning) -> Any:
        import torch

        model = self.pipe.transformer_2 if self._low_noise(level) else self.pipe.transformer
        n = latents.shape[0]
        if self.pipe.config.expand_timesteps:
            f, h, w = latents.shape[2], (latents.shape[3] + 1) // 2, (latents.shape[4] + 1) // 2
            timestep = torch.full((n, f * h * w), level.timestep, device=latents.device, dtype=torch.float32)
        else:
            timestep = torch.full((n,), level.timestep, device=latents.device, dtype=torch.float32)
        return model(hidden_states=latents.to(model.dtype), timestep=timestep, return_dict=False, **kwargs)[0]

    def _vae_decode(self, latents: torch.Tensor) -> torch.Tensor:
        import torch

        vae = self.pipe.vae
        latents = latents.to(vae.dtype)
        z = vae.config.z_dim
        mean = torch.tensor(vae.config.latents_mean).view(1, z, 1, 1, 1).to(latents.device, latents.dtype)
        std_inv = 1.0 / torch.tensor(vae.config.latents_std).view(1, z, 1, 1, 1).to(latents.device, latents.dtype)
        return vae.decode(latents / std_inv + mean, return_dict=False)[0]
