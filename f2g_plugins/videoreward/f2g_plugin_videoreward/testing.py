"""The fixed videos and prompts of the VideoReward parity test, made from integer arithmetic (no RNG).

The golden-value script runs this file by path in the reference's environment and writes each video losslessly
(PNG frames in AVI) so that the reference reads it from a file as it does in use; the parity test makes the same
frames here and hands them to the port. Only numpy is imported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VideoSpec:
    """One test video: its size, length and frame rate (chosen to exercise every branch of the preprocessing)."""

    name: str
    frames: int
    height: int
    width: int
    fps: float


VIDEOS = (
    VideoSpec("small-8fps", 16, 50, 90, 8.0),  # 4 frames at 2 fps; upscaled to the minimum pixel budget
    VideoSpec("square-16fps", 33, 60, 60, 16.0),  # 4.125 frames at 2 fps round to 4
    VideoSpec("long-8fps", 41, 40, 72, 8.0),  # 10.25 frames at 2 fps round to 10 (5 temporal patches)
    VideoSpec("large-24fps", 12, 480, 640, 24.0),  # 1 frame at 2 fps, raised to the minimum 4; downscaled
    VideoSpec("exact-16fps", 24, 336, 336, 16.0),  # already a valid size: no resize, pixels exact on any CPU
)
NO_RESIZE = frozenset({"exact-16fps"})
"""Videos whose frames need no resizing: their pixels do not depend on the CPU's resize kernel."""

PROMPTS = (
    "a red circle moving left",
    "The camera follows a dog that runs on the beach at sunset, golden light",
    "a blue square above a green triangle",
    "一只猫在草地上奔跑",
    "a person walks left, then the camera moves up",
)


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
