"""Training examples for the judge: labelled key-frame grids of rendered videos made to look generated.

A random scene of the world is rendered, its key frames degraded (blur, contrast loss towards the background,
noise, colour shifts, blends with another rendering of the same prompt — the "average of possibilities" look of
early x̂0) and arranged by :func:`f2g_core.images.key_frame_grid` exactly as an LVLM would be shown them. Labels are
the renderer's scene (per colour: present, shape, motion, centres), never the evaluator's output.
"""

from __future__ import annotations

import random

import numpy as np
from f2g_core.images import key_frame_grid
from PIL import Image
from scipy import ndimage

from f2g_plugin_shapes.grammar import BACKGROUND, COLOURS, MOTIONS, SHAPES
from f2g_plugin_shapes.world import Scene, random_prompt, render, sample_scene

KEY_FRAMES = (0, 5, 10, 15)
_COLOURS = list(COLOURS)


def degrade(video: np.ndarray, rng: random.Random, other: np.ndarray | None) -> np.ndarray:
    """Make clean float frames (F, H, W, 3) look generated (see the module docstring)."""
    out = video.copy()
    if other is not None and rng.random() < 0.25:
        w = rng.uniform(0.15, 0.45)
        out = (1 - w) * out + w * other
    if rng.random() < 0.6:
        sigma = rng.uniform(0.3, 2.0) if rng.random() < 0.8 else rng.uniform(2.0, 3.5)
        out = ndimage.gaussian_filter(out, sigma=(0, sigma, sigma, 0))
    bg = np.asarray(BACKGROUND, dtype=np.float32) / 255.0
    if rng.random() < 0.4:
        out = bg + rng.uniform(0.4, 1.0) * (out - bg)
    if rng.random() < 0.3:
        out = out + np.asarray([rng.uniform(-0.06, 0.06) for _ in range(3)], dtype=np.float32)
    if rng.random() < 0.4:
        out = out + rng.uniform(0.0, 0.08) * np.random.default_rng(rng.getrandbits(32)).standard_normal(out.shape)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def labels(scene: Scene) -> np.ndarray:
    """Per colour (6 rows): present, shape index, motion index, then (x, y) centres on the key frames / 32 − 0.5."""
    out = np.zeros((len(_COLOURS), 3 + 2 * len(KEY_FRAMES)), dtype=np.float32)
    for obj in scene.objects:
        row = out[_COLOURS.index(obj.colour)]
        row[0], row[1], row[2] = 1.0, SHAPES.index(obj.shape), MOTIONS.index(obj.motion)
        for k, f in enumerate(KEY_FRAMES):
            cx, cy = obj.centre(f)
            row[3 + 2 * k], row[4 + 2 * k] = cx / 32 - 0.5, cy / 32 - 0.5
    return out


def example(rng: random.Random) -> tuple[Image.Image, np.ndarray]:
    """One (grid, labels) example."""
    prompt = random_prompt(rng)
    scene = sample_scene(prompt, rng)
    keys = list(KEY_FRAMES)
    video = render(scene)[keys].astype(np.float32) / 255.0
    other = render(sample_scene(prompt, rng))[keys].astype(np.float32) / 255.0
    return key_frame_grid(degrade(video, rng, other)), labels(scene)
