"""f2g: train-free, gradient-free reward guidance (Free²Guide) for text-to-video diffusion models.

The public API (``Pipeline``, ``generate``, ``RunConfig``, ``load_config``, ``RunResult``) is imported lazily, so
importing a submodule such as ``f2g_core.hookspecs`` (every plugin does) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_LAZY = {
    "Pipeline": "f2g_core.pipeline",
    "RunResult": "f2g_core.pipeline",
    "generate": "f2g_core.pipeline",
    "RunConfig": "f2g_core.config",
    "load_config": "f2g_core.config",
}

__all__ = ["Pipeline", "RunConfig", "RunResult", "__version__", "generate", "load_config"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'f2g_core' has no attribute {name!r}")
