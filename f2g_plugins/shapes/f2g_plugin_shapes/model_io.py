"""Loading the shipped safetensors weights (float16 on disk, float32 in memory)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

WEIGHTS_DIR = Path(__file__).parent / "weights"
MODEL_FILE = "shapes_t2v.safetensors"
JUDGE_FILE = "shapes_judge.safetensors"


def read_metadata(path: Path) -> dict[str, Any]:
    """The JSON metadata (config, training info) stored in a safetensors header."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
    return {k: json.loads(v) for k, v in meta.items()}


def load_state(module: nn.Module, path: Path) -> None:
    """Load float16 weights into ``module`` (kept in float32)."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(
            f"weights not found: {path}. Reinstall f2g-plugin-shapes or retrain with "
            "`python -m f2g_plugin_shapes.train` / `python -m f2g_plugin_shapes.train_judge`."
        )
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    module.load_state_dict(state)
    module.eval()
    module.requires_grad_(False)
