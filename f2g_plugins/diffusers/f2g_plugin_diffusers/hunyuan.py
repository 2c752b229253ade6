"""HunyuanVideo text-to-video (flow matching, guidance-distilled; Llama + CLIP text encoders; causal 3D VAE).

HunyuanVideo is guidance-distilled: the sampler's ``cfg_scale`` is the *embedded* guidance the transformer is
conditioned on (the pipeline's ``guidance_scale``, default 6), costing no extra model call. Real classifier-free
guidance with a negative prompt is the pipeline's ``true_cfg_scale`` option (> 1 doubles the batch).
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
    height_field,
    max_sequence_length_field,
    model_field,
    num_frames_field,
    width_field,
)
from f2g_plugin_diffusers.schedules import flow_schedule

if TYPE_CHECKING:
    import torch


class HunyuanVideoBackbone(DiffusersBackbone):
    """HunyuanVideo text-to-video (flow matching, embedded guidance) through HunyuanVideoPipeline components."""

    name = "hunyuan-video"
    pipeline_class = "HunyuanVideoPipeline"
    tiny_builder = "hunyuan_video"
    prediction = "flow"
    frame_axis = 2
    prefix_exact = False

    class Options(DiffusersOptions, WindowDecodeOptions):
        temporal_factor: ClassVar[int] = 4
        native_fps: ClassVar[float | None] = 24.0  # HunyuanVideo's 129 frames are 5.4 s
        cache_types: ClassVar[tuple[str, ...]] = ("first-block", "faster", "taylorseer", "pab")
        cache_attention: ClassVar[str] = r"(single_)?transformer_blocks\.\d+\.attn"
        cache_tensor_format: ClassVar[str | None] = "BCFHW"
        size_multiple: ClassVar[int] = 16

        model: str = model_field("hunyuanvideo-community/HunyuanVideo")
        height: int = height_field(320, 16)
        width: int = width_field(512, 16)
        num_frames: int = num_frames_field(61)
        guidance_scale: float = Field(6.0, ge=0.0, description="Embedded (distilled) guidance, not CFG.")
        true_cfg_scale: float = Field(1.0, ge=0.0, description="Real CFG with the negative prompt when > 1.")
        prompt_template: dict[str, Any] | None = Field(
            None, description="Llama prompt template {template, crop_start}; default: the pipeline's."
        )
        max_sequence_length: int = max_sequence_length_field(256)

    options: Options

    def _temporal_factor(self) -> int:
        return int(self.pipe.vae_scale_factor_temporal)

    def latent_shape(self) -> tuple[int, ...]:
        s = int(self.pipe.vae_scale_factor_spatial)
        frames = num_latent_frames(self.options.num_frames, self._temporal_factor())
        channels = int(self.pipe.transformer.config.in_channels)
        return (channels, frames, self.options.height // s, self.options.width // s)

    def _schedule(self, num_steps: int) -> Schedule:
        return flow_schedule(self.pipe.scheduler, num_steps, sigmas=np.linspace(1.0, 0.0, num_steps + 1)[:-1])

    def _encode_one(self, prompt: str) -> dict[str, torch.Tensor]:
        from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE

        embeds, pooled, mask = self.pipe.encode_prompt(
            prompt=prompt,
            prompt_template=self.options.prompt_template or DEFAULT_PROMPT_TEMPLATE,
            num_videos_per_prompt=1,
            device=self.device,
            max_sequence_length=self.options.max_sequence_length,
        )
        dtype = self.model_dtype
        return {
            "encoder_hidden_states": embeds.to(dtype),
            "encoder_attention_mask": mask.to(dtype),
            "pooled_projections": pooled.to(dtype),
        }

    def encode_prompt(self, prompt: str, negative_prompt: str | None, cfg_scale: float | None) -> Conditioning:
        """Embedded guidance from ``cfg_scale``; a negative branch only with true CFG and a negative prompt."""
        import torch

        guidance = self.options.guidance_scale if cfg_scale is None else float(cfg_scale)
        negative = negative_prompt if negative_prompt is not None else self.options.negative_prompt
        true_cfg = self.options.true_cfg_scale > 1.0 and negative is not None
        with torch.no_grad():
            cond = self._encode_one(prompt)
            uncond = self._encode_one(negative) if true_cfg and negative is not None else None
        return Conditioning(cond=cond, uncond=uncond, scale=self.options.true_cfg_scale, extra={"guidance": guidance})

    def _call_model(self, latents: torch.Tensor, level: Level, kwargs: dict[str, Any], cond: Conditioning) -> Any:
        import torch

        model = self.pipe.transformer
        n = latents.shape[0]
        timestep = torch.full((n,), level.timestep, device=latents.device, dtype=torch.float32)
        guidance = torch.full((n,), float(cond.extra["guidance"]), device=latents.device, dtype=model.dtype) * 1000.0
        return model(
            hidden_states=latents.to(model.dtype), timestep=timestep, guidance=guidance, return_dict=False, **kwargs
        )[0]

    def _vae_decode(self, latents: torch.Tensor) -> torch.Tensor:
        vae = self.pipe.vae
        return vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor, return_dict=False)[0]
