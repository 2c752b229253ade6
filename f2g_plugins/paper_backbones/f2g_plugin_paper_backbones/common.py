"""What VideoCrafter2 and LaVie share as f2g backbones: eps-prediction UNets on (C, F, H, W) latents, classifier-free
guidance in one batched call, prompts encoded once per video, and an SD image VAE decoding frame by frame.

A family module supplies the networks (:meth:`PaperBackbone._build`), its text encoding, one denoiser call and
its schedule; everything the guided sampler relies on lives here once. Because the VAE is per-frame, decoding the
key frames for a reward decodes exactly those latent frames and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from f2g_torch_utils.devices import DEVICE_PATTERN, DType, resolve_device
from f2g_torch_utils.devices import resolve_dtype as resolve_named_dtype
from pydantic import Field, model_validator

from f2g_core.interfaces import Backbone, Level
from f2g_core.steppers import x0_from_eps

if TYPE_CHECKING:
    import torch


@dataclass
class Networks:
    """The loaded parts of a backbone."""

    unet: Any
    vae: Any
    text: Any
    scaling_factor: float
    vae_scale: int
    """Pixels per latent pixel (8 for the SD VAE)."""
    tokenizer: Any = None
    """The text tokenizer where it is an object (LaVie's CLIP tokenizer); VideoCrafter2 uses open_clip's function."""


@dataclass
class TextConditioning:
    """Text embeddings, reused for every candidate and step; ``uncond`` None when CFG is off.

    Batch 1 for one prompt (broadcast over the candidates), or one row per latent row when several prompts share
    a denoiser call (:meth:`PaperBackbone.stack_conditioning`).
    """

    cond: torch.Tensor
    uncond: torch.Tensor | None
    scale: float


TINY_SIZE = {"height": 16, "width": 16, "num_frames": 8}
"""The video size of ``model: tiny`` where the config gives none (the published 16 × 320×512 would take minutes)."""


class PaperOptions(Backbone.Options):
    """Options shared by the paper's backbones."""

    model: str = Field("", description="Checkpoint (hub id or local path) or 'tiny'.")

    device: str = Field(
        "auto", pattern=DEVICE_PATTERN, description="'auto' (cuda if present, else cpu), 'cpu', 'cuda', 'cuda:1', ..."
    )
    dtype: DType | Literal["auto"] = Field(
        "auto", description="Weights dtype; 'auto' = float16 on CUDA, float32 on CPU."
    )
    height: int = Field(320, ge=8, description="Video height in pixels (a multiple of 8).")
    width: int = Field(512, ge=8, description="Video width in pixels (a multiple of 8).")
    num_frames: int = Field(16, ge=1, description="Frames in the video (the models were trained on 16).")
    negative_prompt: str | None = Field(
        None, description="Default negative prompt when the run gives none (None: the empty prompt, as trained)."
    )
    guidance_scale: float = Field(7.5, ge=0.0, description="Default CFG scale when the sampler block gives none.")
    fps: float | None = Field(
        None,
        gt=0,
        description="Frame rate the video plays at, handed to video rewards that sample frames by time "
        "(VideoReward, VideoScore2); the papers fix none for their 16 frames, so such rewards ask for it.",
    )

    @model_validator(mode="before")
    @classmethod
    def _tiny_size(cls, data: Any) -> Any:
        """``model: tiny`` defaults to a 16×16, 8-frame video (sizes the config gives are kept)."""
        if isinstance(data, dict) and data.get("model") == "tiny":
            return {**TINY_SIZE, **data}
        return data

    @model_validator(mode="after")
    def _check_size(self) -> PaperOptions:
        for label, value in (("height", self.height), ("width", self.width)):
            if value % 8:
                raise ValueError(f"{label} must be a multiple of 8 (the VAE's factor); got {value}")
        return self


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """'auto' is float16 on CUDA (the authors' inference precision, rather than f2g's usual bfloat16) and float32
    elsewhere."""
    import torch

    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return resolve_named_dtype(name, device)


class PaperBackbone(Backbone):
    """Base of the paper's backbones. Subclasses implement the ``_`` hooks."""

    Options = PaperOptions
    options: PaperOptions

    def __init__(self, options: PaperOptions | None = None) -> None:
        super().__init__(options)
        self._nets: Networks | None = None
        self._device = resolve_device(self.options.device)

    # ----------------------------------------------------------------------------------------------- loading

    def load(self) -> None:
        """Build the networks (random for ``model: tiny``, else from the checkpoint) and place them."""
        if self._nets is not None:
            return
        nets = self._build()
        dtype = resolve_dtype(self.options.dtype, self._device)
        for module in (nets.unet, nets.vae, nets.text):
            if next(module.parameters()).dtype != dtype:  # (diffusers warns on any dtype cast of its VAE)
                module.to(dtype=dtype)
            module.to(self._device).eval().requires_grad_(False)
        self._nets = nets

    def _build(self) -> Networks:
        raise NotImplementedError

    @property
    def nets(self) -> Networks:
        self.load()
        assert self._nets is not None
        return self._nets

    def close(self) -> None:
        self._nets = None

    # ------------------------------------------------------------------------------------------ properties

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def num_frames(self) -> int:
        return self.options.num_frames

    @property
    def fps(self) -> float | None:
        return self.options.fps

    def latent_shape(self) -> tuple[int, ...]:
        s = self.nets.vae_scale
        return (4, self.options.num_frames, self.options.height // s, self.options.width // s)

    # ------------------------------------------------------------------------------------------- sampling

    def encode_prompt(self, prompt: str, negative_prompt: str | None, cfg_scale: float | None) -> TextConditioning:
        """The prompt's (and, with CFG, the negative prompt's) embeddings, once per video."""
        import torch

        scale = self.options.guidance_scale if cfg_scale is None else float(cfg_scale)
        negative = negative_prompt if negative_prompt is not None else self.options.negative_prompt
        with torch.no_grad():
            cond = self._encode_text(prompt)
            uncond = self._encode_text(negative or "") if scale > 1.0 else None
        return TextConditioning(cond=cond, uncond=uncond, scale=scale)

    batched_conditioning = True

    def stack_conditioning(self, conds: Sequence[TextConditioning]) -> TextConditioning:
        """Row i conditioned on ``conds[i]``: the embeddings concatenated along the batch.

        Every prompt is padded to the tokenizer's fixed length (77), so the shapes agree; the CFG scale, being
        one number per denoiser call, must be shared.
        """
        import torch

        first = conds[0]
        if any((c.scale, c.uncond is None) != (first.scale, first.uncond is None) for c in conds):
            raise ValueError("stacked conditionings must share the CFG scale")
        uncond = None if first.uncond is None else torch.cat([c.uncond for c in conds if c.uncond is not None])
        return TextConditioning(cond=torch.cat([c.cond for c in conds]), uncond=uncond, scale=first.scale)

    def _encode_text(self, prompt: str) -> torch.Tensor:
        raise NotImplementedError

    def _eps(self, latents: torch.Tensor, level: Level, context: torch.Tensor) -> torch.Tensor:
        """One denoiser call on a batch (already doubled for CFG): the predicted noise."""
        raise NotImplementedError

    def denoise(self, latents: torch.Tensor, level: Level, cond: TextConditioning) -> torch.Tensor:
        """x̂0 of a batch of candidates: one UNet call on [uncond; cond], guided, converted to x̂0 in float32."""
        import torch

        latents = latents.to(self.device, torch.float32)
        n = latents.shape[0]
        with torch.no_grad():
            if cond.uncond is None:
                eps = self._eps(latents, level, cond.cond.expand(n, -1, -1)).float()
            else:
                context = torch.cat([cond.uncond.expand(n, -1, -1), cond.cond.expand(n, -1, -1)])
                eps_uncond, eps_cond = self._eps(torch.cat([latents, latents]), level, context).float().chunk(2)
                eps = eps_uncond + cond.scale * (eps_cond - eps_uncond)
        return x0_from_eps(latents, eps, level.alpha, level.sigma)

    # ------------------------------------------------------------------------------------------- decoding

    def decode(self, x0: torch.Tensor, frame_indices: Sequence[int]) -> np.ndarray:
        """Decode only ``frame_indices`` of each sample: the VAE is per-frame, so this is exact."""
        import torch

        frames = [int(f) for f in frame_indices]
        if any(not 0 <= f < self.num_frames for f in frames):
            raise ValueError(f"frame indices must be in [0, {self.num_frames}), got {frames}")
        picked = x0.to(self.device, torch.float32)[:, :, frames]
        return self._decode_frames(picked)

    def decode_video(self, x0: torch.Tensor) -> np.ndarray:
        """Whole videos, one candidate at a time (a VAE batch of F frames)."""
        import torch

        latents = x0.to(self.device, torch.float32)
        return np.concatenate([self._decode_frames(latents[i : i + 1]) for i in range(latents.shape[0])])

    def _decode_frames(self, latents: torch.Tensor) -> np.ndarray:
        """(B, C, F, h, w) latents -> (B, F, H, W, 3) float32 in [0, 1]."""
        import torch

        nets = self.nets
        b, c, f, h, w = latents.shape
        images = latents.transpose(1, 2).reshape(b * f, c, h, w) / nets.scaling_factor
        with torch.no_grad():
            decoded = nets.vae.decode(images.to(nets.vae.dtype)).sample.float()
        pixels = (decoded / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)
        return pixels.reshape(b, f, *pixels.shape[1:]).cpu().numpy().astype(np.float32)
