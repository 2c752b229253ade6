"""Test videos made from integer arithmetic (no RNG), and test prompts, for the video rewards' parity tests.

The parity tests of ``videoscore`` and ``videoreward`` score the same frames in the port and, via their
golden-value scripts, in the reference's own code (which reads them from lossless files written by
:func:`f2g_torch_utils.golden.write_lossless_video`). The frames are exact on any machine. Only numpy is imported,
because the plugins' ``testing.py`` files that use this module run by path inside the reference's old environment,
where f2g is not installed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROMPTS = (
    "a red circle moving left",
    "The camera follows a dog that runs on the beach at sunset, golden light",
    "a blue square above a green triangle",
    "一只猫在草地上奔跑",
    "a person walks left, then the camera moves up",
)
"""Test prompts: short and long, and one whose words are outside the miniatures' vocabularies."""


@dataclass(frozen=True)
class VideoSpec:
    """One test video: its name, length, size and the frame rate it is written (and played) at."""

    name: str
    frames: int
    height: int
    width: int
    fps: float = 8.0


def make_frames(spec: VideoSpec) -> np.ndarray:
    """(frames, height, width, 3) uint8: colour ramps that drift over time and a bright square moving right."""
    t, y, x = np.meshgrid(np.arange(spec.frames), np.arange(spec.height), np.arange(spec.width), indexing="ij")
    red = (x * 255 // max(spec.width - 1, 1) + 9 * t) % 256
    green = (y * 255 // max(spec.height - 1, 1) + 5 * t) % 256
    blue = ((x + 2 * y) * 3 + 13 * t) % 256
    video = np.stack([red, green, blue], axis=-1).astype(np.uint8)
    side = max(4, min(spec.height, spec.width) // 4)
    for k in range(spec.frames):
        left = (k * max(1, spec.width // spec.frames)) % max(1, spec.width - side)
        top = (spec.height - side) // 2
        video[k, top : top + side, left : left + side] = (250, 240, 30)
    return video
