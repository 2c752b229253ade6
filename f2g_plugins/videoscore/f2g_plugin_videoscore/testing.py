"""The fixed videos and prompts of the VideoScore parity test, made from integer arithmetic (no RNG).

The golden-value script runs this file by path in the reference's environment and writes each video losslessly
(PNG frames in AVI) so that the reference reads it from a file with PyAV, as its example does; the parity test
makes the same frames here and hands them to the port. Only numpy is imported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VideoSpec:
    """One test video: its length and size (chosen to exercise every branch of the preprocessing)."""

    name: str
    frames: int
    height: int
    width: int


VIDEOS = (
    VideoSpec("small-16", 16, 64, 64),  # all 16 frames; both sides raised to 378 (bilinear upscale)
    VideoSpec("long-100", 100, 48, 80),  # more than 48 frames: 48 of them, step 100/48; aspect changed to 378×378
    VideoSpec("wide-12", 12, 300, 1200),  # longest side above 980: 980 wide, height 245 raised to 378
    VideoSpec("tall-8", 8, 1000, 500),  # taller than 980: 980 × 490
    VideoSpec("exact-6", 6, 378, 420),  # already within bounds: no resize
    VideoSpec("odd-4", 4, 686, 812),  # 49 × 58 patches: sizes where the reference's position ids differ from
    # current transformers' (see model.patch_positions)
)
PROMPTS = (
    "a red circle moving left",
    "The camera follows a dog that runs on the beach at sunset, golden light",
    "a blue square above a green triangle",
    "一只猫在草地上奔跑",
    "a person walks left, then the camera moves up",
)
"""Test prompts; the words of the Chinese one are outside the miniature's vocabulary and become ``<unk>``, the
padding token, which moves the token the head reads (see ``tiny.py``), as in the reference."""

RUNS = ((0, 0), (1, 1), (2, 2), (3, 4), (4, 0), (5, 2), (0, 3))
"""The (video, prompt) pairs scored: every video with a prompt of known words, and one with the unknown-word
prompt (whose head then reads a token before the frames: the score is the same for any video)."""


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
