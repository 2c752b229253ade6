"""Options shared by every diffusers backbone, and the frame/size rules each family checks.

Each backbone's ``Options`` subclasses :class:`DiffusersOptions` and overrides defaults (hub id, size, frames);
the rules are checked when the config is parsed, so a bad ``num_frames`` fails before any weight is downloaded.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from f2g_core.interfaces import Backbone

DType = Literal["auto", "float32", "float16", "bfloat16"]
Offload = Literal["none", "model", "sequential"]
DecodeMode = Literal["exact", "window"]


class DiffusersOptions(Backbone.Options):
    """Loading, precision, memory and video-size options common to all diffusers backbones."""

    model: str = Field("", description="Hub id or local folder of a diffusers-format checkpoint.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) to load.")
    variant: str | None = Field(None, description="Weight file variant, e.g. 'fp16'.")
    dtype: DType = Field("auto", description="Weights dtype; 'auto' = bfloat16 on CUDA, float32 on CPU.")
    vae_dtype: DType | None = Field(None, description="VAE dtype when it should differ from `dtype`.")
    device: str = Field("auto", description="'auto' (cuda if present, else cpu), 'cpu', 'cuda', 'cuda:1', ...")
    offload: Offload = Field(
        "none",
        description="'model': diffusers' model CPU offload (one component on the GPU at a time); "
        "'sequential': sub-module offload (slowest, least memory).",
    )
    vae_tiling: bool = Field(False, description="Decode in spatial tiles (less memory at high resolution).")
    vae_slicing: bool = Field(False, description="Decode one sample of a batch at a time.")
    height: int = Field(480, ge=8, description="Video height in pixels.")
    width: int = Field(832, ge=8, description="Video width in pixels.")
    num_frames: int = Field(81, ge=1, description="Frames in the video.")
    negative_prompt: str | None = Field(None, description="Default negative prompt when the run gives none.")
    guidance_scale: float = Field(5.0, ge=0.0, description="Default CFG scale when the sampler block gives none.")
    max_sequence_length: int = Field(226, ge=1, description="Text tokens the encoder sees (longer is truncated).")

    # The rules of a family, overridden per subclass (class-level constants, not options).
    temporal_factor: ClassVar[int] = 1
    size_multiple: ClassVar[int] = 8

    @model_validator(mode="after")
    def _check_video_size(self) -> DiffusersOptions:
        check_video_size(self.height, self.width, self.num_frames, self.temporal_factor, self.size_multiple)
        return self


def check_video_size(height: int, width: int, num_frames: int, temporal: int, multiple: int) -> None:
    """Raise a ValueError that says what to use instead when the size or frame count breaks a family's rules."""
    if temporal > 1 and (num_frames - 1) % temporal != 0:
        lower = (num_frames - 1) // temporal * temporal + 1
        raise ValueError(
            f"num_frames must be {temporal}k+1 for this model (its VAE compresses time by {temporal}); "
            f"got {num_frames}, use {lower} or {lower + temporal}"
        )
    for label, value in (("height", height), ("width", width)):
        if value % multiple != 0:
            raise ValueError(
                f"{label} must be a multiple of {multiple} for this model; got {value}, "
                f"use {value // multiple * multiple or multiple} or {(value // multiple + 1) * multiple}"
            )
