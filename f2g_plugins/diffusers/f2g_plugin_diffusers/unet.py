"""UNet text-to-video backbones with per-frame SD VAEs: ModelScope / Zeroscope, VideoCrafter2, AnimateDiff.

All are epsilon- (or v-) prediction models on a discrete DDPM schedule, sampled with DDIM; their VAE is the
Stable Diffusion image VAE applied frame by frame, so decoding only the key frames is exact and cheap.

VideoCrafter2 was trained with frame-rate conditioning, but diffusers has no UNet class with that input: its
community diffusers conversion (``adamdad/videocrafterv2_diffusers``) loads into ``UNet3DConditionModel``
(ModelScope's architecture) through ``TextToVideoSDPipeline``, without the fps embedding (the conversion bakes
in the default). The ``videocrafter2-diffusers`` backbone is that pipeline with the paper's settings (320×512,
16 frames, CFG 12); it is exactly as faithful as the conversion. The official architecture, fs conditioning
included, is the ``videocrafter2`` backbone of ``f2g-plugin-paper-backbones``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from f2g_core.interfaces import Level
from f2g_plugin_diffusers.base import Conditioning, DDIMBackbone
from f2g_plugin_diffusers.options import (
    DiffusersOptions,
    guidance_scale_field,
    height_field,
    model_field,
    num_frames_field,
    width_field,
)

if TYPE_CHECKING:
    import torch


class PerFrameOptions(DiffusersOptions):
    """Options of the UNet families (their VAE decodes frame by frame)."""

    flow_matching: ClassVar[bool] = False

    max_sequence_length: int = Field(77, ge=1, le=77, description="CLIP's fixed context (not configurable).")
    preview_vae: str | None = Field(
        None,
        description="Tiny autoencoder (AutoencoderTiny, e.g. 'madebyollin/taesd') that decodes the key frames "
        "scored during guidance: approximate but much faster; the final video always uses the real VAE.",
    )


class _PerFrameVAEBackbone(DDIMBackbone):
    """Shared by the UNet families: (C, F, H, W) latents, CLIP prompt encoding, an SD VAE per frame."""

    frame_axis = 2
    denoiser_names = ("unet",)
    per_frame_vae = True
    options: PerFrameOptions

    def __init__(self, options: PerFrameOptions | None = None, *, pipeline: Any = None) -> None:
        super().__init__(options, pipeline=pipeline)
        self._preview: Any = None
        self._previewing = False

    def _preview_vae(self) -> Any:
        """The optional tiny preview decoder, loaded on first use in the VAE's device and dtype."""
        if self._preview is None:
            from diffusers import AutoencoderTiny

            vae = self.pipe.vae
            self._preview = AutoencoderTiny.from_pretrained(self.options.preview_vae, dtype=vae.dtype).to(self.device)
        return self._preview

    def decode(self, x0: torch.Tensor, frame_indices: Sequence[int]) -> np.ndarray:
        """Key frames for the rewards: with the real VAE (exact) or the ``preview_vae`` (fast, approximate)."""
        self._previewing = self.options.preview_vae is not None
        try:
            return super().decode(x0, frame_indices)
        finally:
            self._previewing = False

    def _denoiser(self) -> Any:
        return self.pipe.unet

    def latent_shape(self) -> tuple[int, ...]:
        s = int(self.pipe.vae_scale_factor)
        channels = int(self.pipe.unet.config.in_channels)
        return (channels, self.options.num_frames, self.options.height // s, self.options.width // s)

    def _encode(
        self, prompt: str, negative_prompt: str | None, do_cfg: bool
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
        embeds, negative = self.pipe.encode_prompt(prompt, self.device, 1, do_cfg, negative_prompt)
        dtype = self.model_dtype
        uncond = {"encoder_hidden_states": negative.to(dtype)} if do_cfg else None
        return {"encoder_hidden_states": embeds.to(dtype)}, uncond

    def _call_model(self, latents: torch.Tensor, level: Level, kwargs: dict[str, Any], cond: Conditioning) -> Any:
        unet = self.pipe.unet
        timestep = self._timesteps(level, latents.shape[0])
        return unet(latents.to(unet.dtype), timestep, return_dict=False, **kwargs)[0]

    def _vae_decode(self, latents: torch.Tensor) -> torch.Tensor:
        vae = self._preview_vae() if self._previewing else self.pipe.vae
        b, c, f, h, w = latents.shape
        images = latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w).to(vae.dtype) / vae.config.scaling_factor
        decoded = vae.decode(images).sample
        return decoded.reshape(b, f, *decoded.shape[1:]).permute(0, 2, 1, 3, 4)


class ModelScopeBackbone(_PerFrameVAEBackbone):
    """ModelScope text-to-video 1.7B and Zeroscope v2 (UNet3D, DDIM) through TextToVideoSDPipeline."""

    name = "modelscope"
    pipeline_class = "TextToVideoSDPipeline"
    tiny_builder = "modelscope"

    class Options(PerFrameOptions):
        model: str = model_field("ali-vilab/text-to-video-ms-1.7b")
        height: int = height_field(256, 8)
        width: int = width_field(256, 8)
        num_frames: int = num_frames_field(16)
        guidance_scale: float = guidance_scale_field(9.0)

    options: Options


class VideoCrafter2Backbone(ModelScopeBackbone):
    """VideoCrafter2 via its community diffusers conversion (UNet3D, no fs input; official: `videocrafter2`)."""

    name = "videocrafter2-diffusers"

    class Options(ModelScopeBackbone.Options):
        model: str = model_field("adamdad/videocrafterv2_diffusers")
        height: int = height_field(320, 8)
        width: int = width_field(512, 8)
        num_frames: int = num_frames_field(16)
        guidance_scale: float = guidance_scale_field(12.0)

    options: Options


class AnimateDiffBackbone(_PerFrameVAEBackbone):
    """AnimateDiff: a Stable Diffusion 1.5 checkpoint plus a motion adapter (UNetMotionModel, DDIM)."""

    name = "animatediff"
    pipeline_class = "AnimateDiffPipeline"
    tiny_builder = "animatediff"

    class Options(PerFrameOptions):
        model: str = Field("emilianJR/epiCRealism", description="SD 1.5 base checkpoint (hub id or folder).")
        motion_adapter: str = Field(
            "guoyww/animatediff-motion-adapter-v1-5-2", description="Motion adapter (hub id or folder)."
        )
        height: int = height_field(512, 8)
        width: int = width_field(512, 8)
        num_frames: int = num_frames_field(16)
        guidance_scale: float = guidance_scale_field(7.5)

    options: Options

    def _call_model(self, latents: torch.Tensor, level: Level, kwargs: dict[str, Any], cond: Conditioning) -> Any:
        # UNetMotionModel attends to text per frame: the pipeline repeats the embeddings frame by frame.
        frames = latents.shape[2]
        kwargs = {k: v.repeat_interleave(frames, dim=0) for k, v in kwargs.items()}
        return super()._call_model(latents, level, kwargs, cond)

    def _pretrained_kwargs(self) -> dict[str, Any]:
        from diffusers import MotionAdapter
        from f2g_torch_utils.devices import resolve_dtype

        dtype = resolve_dtype(self.options.dtype, self.device)
        adapter = MotionAdapter.from_pretrained(self.options.motion_adapter, dtype=dtype)
        return {**super()._pretrained_kwargs(), "motion_adapter": adapter}
