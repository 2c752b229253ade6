"""Test videos made from integer arithmetic (no RNG), and a lossless way to write them for reference code to read.

The parity tests of the video rewards (``videoscore``, ``videoreward``) score the same frames in the port and, via
their golden-value scripts, in the reference's own code, which reads video files. The frames here are exact on any
machine, and :func:`write_lossless_video` stores them so that the reference decodes exactly these pixels. Only
numpy is imported (PyAV when writing), because the golden-value scripts import this module by path inside the
reference's old environment, where f2g is not installed.
"""

from __future__ import annotations

import fractions
from pathlib import Path
from typing import Protocol

import numpy as np

PROMPTS = (
    "a red circle moving left",
    "The camera follows a dog that runs on the beach at sunset, golden light",
    "a blue square above a green triangle",
    "一只猫在草地上奔跑",
    "a person walks left, then the camera moves up",
)
"""Test prompts: short and long, and one whose words are outside the miniatures' vocabularies."""


class VideoShape(Protocol):
    """A test video's length and size (the plugins' ``VideoSpec``s add what they need, e.g. a frame rate)."""

    @property
    def frames(self) -> int: ...

    @property
    def height(self) -> int: ...

    @property
    def width(self) -> int: ...


def make_frames(spec: VideoShape) -> np.ndarray:
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


def write_lossless_video(path: Path, frames: np.ndarray, fps: float) -> None:
    """(T, H, W, 3) uint8 frames as PNG frames in AVI at ``fps``, so a reader decodes exactly these pixels."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("png", rate=fractions.Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "rgb24"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
