"""Tiny ViCLIP fixtures shared by the tests and the golden script (imports torch, numpy, f2g_torch_utils.checkpoints).

``scripts/make_golden.py`` loads this file by path inside the reference environment, so both sides build the same
seeded weights and videos. Sizes: a 2-layer, 128-wide video ViT with 32-pixel patches at 224 (VBench's transform
is fixed at 224) over 8 frames, and a 2-layer, 128-wide CLIP text tower with ViCLIP's 32-token context.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

TINY_VISION: dict[str, int] = {
    "image_size": 224,
    "patch_size": 32,
    "width": 128,
    "layers": 2,
    "heads": 2,
    "num_frames": 8,
    "output_dim": 64,
}
TINY_TEXT: dict[str, int] = {
    "context_length": 32,
    "vocab_size": 49408,
    "width": 128,
    "layers": 2,
    "heads": 2,
    "output_dim": 64,
}
PROMPTS: list[str] = [
    "a red car driving on a road",
    "Two cats playing with a ball of wool!",
    "an astronaut riding a horse on the moon at night in the style of van gogh, with small trees, a big yellow "
    "moon, an old city and a green sky next to a beach at sunset",  # longer than 32 tokens: truncation
]


def seeded_state(reference: Mapping[str, torch.Tensor], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights for every floating tensor of ``reference``, each from its own key-derived seed, so models
    holding different extra keys agree on the shared ones (:func:`f2g_torch_utils.checkpoints.seeded_state`, with its
    default scales)."""
    from f2g_torch_utils.checkpoints import seeded_state as seeded

    return seeded(reference, seed)


def parity_videos(seed: int = 0) -> np.ndarray:
    """(3, 8, 48, 64, 3) uint8: noise, a moving bar, blocky noise (non-square frames: resize and crop paths)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(8, 48, 64, 3), dtype=np.uint8)
    bar = np.zeros((8, 48, 64, 3), dtype=np.uint8)
    for t in range(8):
        bar[t, :, 6 * t : 6 * t + 12, 0] = 255
        bar[t, 10:20, :, 2] = 200
    blocks = rng.integers(0, 256, size=(8, 6, 8, 3), dtype=np.uint8).repeat(8, axis=1).repeat(8, axis=2)
    return np.stack([noise, bar, blocks])


def digest(array: np.ndarray) -> str:
    return f"{zlib.crc32(np.ascontiguousarray(array).tobytes()):08x}"


def describe() -> dict[str, Any]:
    return {"vision": TINY_VISION, "text": TINY_TEXT, "prompts": PROMPTS, "videos": digest(parity_videos())}
