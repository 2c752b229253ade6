"""Device and dtype names of component options, resolved to torch objects when a model loads.

Every model plugin takes ``device: auto | cpu | cuda | cuda:1 | mps | xpu`` and ``dtype: auto | float32 | float16 |
bfloat16``; ``auto`` means the accelerator when there is one, because rewards usually share the GPU with the video
model. torch is imported by the functions, never at module import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

DType = Literal["float32", "float16", "bfloat16"]
"""Explicit dtype names; options that also accept ``auto`` use ``DType | Literal["auto"]``."""

DEVICE_PATTERN = r"^(auto|cpu|mps|(cuda|xpu)(:\d+)?)$"
"""What a ``device`` option accepts (validated when the config is read, not when the model loads)."""


def resolve_device(name: str, *, mps: bool = False) -> torch.device:
    """``auto`` picks CUDA when it is available (then Apple's MPS when ``mps`` is set), else the CPU."""
    import torch

    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if mps and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(name: str | None, device: torch.device | None = None) -> torch.dtype:
    """A dtype name as torch's; ``auto`` (or None) is bfloat16 on CUDA — what video models are trained and served
    in — or float16 on GPUs without bfloat16, and float32 elsewhere."""
    import torch

    if name is None or name == "auto":
        if device is not None and device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if name not in dtypes:
        raise ValueError(f"unknown dtype {name!r}; use one of auto, {', '.join(dtypes)}")
    return dtypes[name]
