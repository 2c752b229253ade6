"""The analytic Gaussian-mixture backbone with frames that have content: texture, colour and motion.

:class:`~f2g_core.gaussian_mixture.GaussianMixtureBackbone` paints every pixel of a frame one colour, which is all
``mode-distance`` needs but nothing an image reward (CLIP, ImageReward, an LVLM) can meaningfully look at. This
variant paints the same colour as the mean of each frame's first D channels — so ``mode-distance`` and
:func:`~f2g_core.gaussian_mixture.decode_point` still recover the sample exactly — plus a zero-mean diagonal
texture whose phase moves with the frame index, and a coloured gradient in the remaining channels. Frames differ
over time and across candidates, have edges and colour, and decoding still costs in proportion to the frames asked
for. It exists for plugin tests (``f2g_core.testing``), never for users' runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import Field

from f2g_core.gaussian_mixture import GaussianMixtureBackbone
from f2g_core.hookspecs import Register, hookimpl

TEXTURE_AMPLITUDE = 0.8
"""Texture contrast as a fraction of the headroom to 0 or 1, so no pixel clips and frame means stay exact."""


class TexturedGaussianMixture(GaussianMixtureBackbone):
    """Analytic test backbone whose frames carry texture, colour and motion (for testing image rewards)."""

    name = "gaussian-mixture-textured"

    class Options(GaussianMixtureBackbone.Options):
        frame_size: int = Field(32, ge=2, description="Height and width of decoded frames (even: exact means).")

    def decode(self, x0: Any, frame_indices: Sequence[int]) -> np.ndarray:
        values = 1.0 / (1.0 + np.exp(-x0.detach().cpu().numpy().astype(np.float64)))  # (N, D)
        size, dims = int(self.options.frame_size), values.shape[1]
        rows, cols = np.mgrid[0:size, 0:size]
        frames = []
        for index in frame_indices:
            # Two full periods along the diagonal: zero mean over the frame; the phase moves with time.
            phase = 2 * math.pi * index / max(self.num_frames, 1)
            texture = np.sin(2 * math.pi * 2 * (rows + cols) / size + phase)  # (H, W)
            frame = np.empty((values.shape[0], size, size, 3), dtype=np.float64)
            for channel in range(3):
                if channel < dims:
                    v = values[:, channel, None, None]
                    frame[..., channel] = v + TEXTURE_AMPLITUDE * np.minimum(v, 1 - v) * texture[None]
                else:  # colour the channels the point does not use: a gradient across the frame
                    frame[..., channel] = 0.2 + 0.6 * (cols if channel % 2 else rows)[None] / max(size - 1, 1)
            frames.append(frame)
        return np.stack(frames, axis=1).astype(np.float32)


@hookimpl
def register_backbones(register: Register) -> None:
    register(TexturedGaussianMixture)
