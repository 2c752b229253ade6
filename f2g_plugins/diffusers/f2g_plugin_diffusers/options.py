"""Options shared by every diffusers backbone, and the frame/size rules each family checks.

Each backbone's ``Options`` subclasses :class:`DiffusersOptions` and overrides defaults (hub id, size, frames) with
the field functions below, so every family's fields keep one description; families with a causal video VAE add
:class:`WindowDecodeOptions`. The rules are checked when the config is parsed, so a bad ``num_frames`` fails before
any weight is downloaded.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, model_validator

from f2g_core.interfaces import Backbone

DType = Literal["auto", "float32", "float16", "bfloat16"]
Offload = Literal["none", "model", "sequential"]
DecodeMode = Literal["exact", "window"]


MODEL = "Hub id or local folder of a diffusers-format checkpoint."


def model_field(default: str, description: str = MODEL) -> Any:
    return Field(default, description=description)


def height_field(default: int, minimum: int = 8) -> Any:
    return Field(default, ge=minimum, description="Video height in pixels (a multiple of the family's size step).")


def width_field(default: int, minimum: int = 8) -> Any:
    return Field(default, ge=minimum, description="Video width in pixels (a multiple of the family's size step).")


def num_frames_field(default: int) -> Any:
    return Field(default, ge=1, description="Frames in the video (4k+1 or 8k+1 for causal video VAEs).")


def guidance_scale_field(default: float) -> Any:
    return Field(default, ge=0.0, description="Default CFG scale when the sampler block gives none.")


def max_sequence_length_field(default: int) -> Any:
    return Field(default, ge=1, description="Text tokens the encoder sees (longer is truncated).")


class DiffusersOptions(Backbone.Options):
    """Loading, precision, memory and video-size options common to all diffusers backbones."""

    model: str = model_field("")
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
    height: int = height_field(480)
    width: int = width_field(832)
    num_frames: int = num_frames_field(81)
    negative_prompt: str | None = Field(None, description="Default negative prompt when the run gives none.")
    guidance_scale: float = guidance_scale_field(5.0)
    max_sequence_length: int = max_sequence_length_field(226)

    # The rules of a family, overridden per subclass (class-level constants, not options).
    temporal_factor: ClassVar[int] = 1
    size_multiple: ClassVar[int] = 8

    @model_validator(mode="after")
    def _check_video_size(self) -> DiffusersOptions:
        check_video_size(self.height, self.width, self.num_frames, self.temporal_factor, self.size_multiple)
        return self


class WindowDecodeOptions(BaseModel):
    """How a causal video VAE decodes key frames: exactly, or as a fast preview."""

    decode_mode: DecodeMode = Field(
        "exact",
        description="'exact': key frames as the whole-video decode gives them (the shortest exact latent span); "
        "'window': a few latents before each key frame (a fast, approximate preview).",
    )
    window_context: int = Field(1, ge=1, description="Latent frames decoded before each key frame ('window').")


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
