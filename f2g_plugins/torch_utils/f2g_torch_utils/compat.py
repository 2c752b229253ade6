"""Make ``import torchvision`` work next to a CPU-only torch.

The registry's torchvision 0.28.0 wheel is a CUDA build. Next to the CPU torch wheel its native library does not
load, and ``import torchvision`` then fails with "operator torchvision::nms does not exist" while registering
fake (meta) kernels for its detection operators. open_clip, timm and transformers import torchvision, so they
fail too. Defining the schemas of the missing operators before torchvision is first imported lets it import; the
operators themselves stay unavailable (nothing f2g uses calls them). Where torchvision's native library loads
(a matching GPU build), this does nothing.

Call :func:`ensure_torchvision` before importing anything that imports torchvision.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
"""The operators torchvision registers fake kernels for at import time: the two whose absence breaks it."""

_library: torch.library.Library | None = None


def ensure_torchvision() -> None:
    """Define torchvision's operator schemas if its native library cannot provide them. Idempotent."""
    global _library
    if _library is not None or "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is None:
        return
    package = importlib.util.find_spec("torchvision")
    for folder in (package.submodule_search_locations or []) if package else []:
        for native in Path(folder).glob("_C*.so"):
            try:
                torch.ops.load_library(str(native))
                return  # torchvision's own operators loaded: nothing to stand in for
            except (OSError, RuntimeError):
                pass
    library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        library.define(schema)
    _library = library
