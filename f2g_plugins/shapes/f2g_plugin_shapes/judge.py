"""The learned judge: ``rate_grid(prompt, grid)`` → probabilities of ratings 1..9, like an LVLM's answer digits.

The judge sees only the labelled 2×2 key-frame grid that :func:`f2g_core.images.key_frame_grid` makes (what an
LVLM is shown) and the prompt text; its expected rating is the reward ``shapes-judge``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from f2g_plugin_shapes.grammar import normalise
from f2g_plugin_shapes.model_io import JUDGE_FILE, WEIGHTS_DIR

if TYPE_CHECKING:
    from f2g_plugin_shapes.judge_net import JudgeNet

_cache: dict[Path, JudgeNet] = {}
_lock = threading.Lock()


def load_judge(path: str | Path | None = None) -> JudgeNet:
    """Load (once per path, thread-safe) the judge network from safetensors."""
    from f2g_plugin_shapes.judge_net import JudgeConfig, JudgeNet
    from f2g_plugin_shapes.model_io import load_state, read_metadata

    resolved = Path(path) if path else WEIGHTS_DIR / JUDGE_FILE
    with _lock:
        if resolved not in _cache:
            if not resolved.is_file():
                raise FileNotFoundError(f"shapes judge weights not found: {resolved}")
            net = JudgeNet(JudgeConfig(**read_metadata(resolved)["config"]))
            load_state(net, resolved)
            _cache[resolved] = net
        return _cache[resolved]


def rate_grids(prompts: list[str], grids: list[Image.Image], weights: str | Path | None = None) -> np.ndarray:
    """Probabilities (B, 9) of ratings 1..9 for each (prompt, grid) pair, in one batched forward pass.

    Words outside the shapes vocabulary are ignored (an LVLM would still answer), so any text can be rated.
    """
    import torch

    from f2g_plugin_shapes.judge_net import grid_to_tiles
    from f2g_plugin_shapes.nets import TOKENS, tokenize

    net = load_judge(weights)
    cleaned = [" ".join(w for w in normalise(p) if w in TOKENS) for p in prompts]
    ids, pad = tokenize(cleaned)
    with torch.inference_mode():
        logits = net(grid_to_tiles(grids), ids, pad)
        return torch.softmax(logits.float(), -1).numpy().astype(np.float64)


def rate_grid(prompt: str, grid: Image.Image, weights: str | Path | None = None) -> np.ndarray:
    """Probabilities (9,) of the ratings 1..9 that ``grid`` (a labelled 2×2 key-frame grid) matches ``prompt``."""
    return rate_grids([prompt], [grid], weights)[0]


def expected_rating(probabilities: np.ndarray) -> np.ndarray:
    """Expected rating Σ k·p_k over k = 1..9 (last axis)."""
    return np.asarray(probabilities) @ np.arange(1, 10, dtype=np.float64)
