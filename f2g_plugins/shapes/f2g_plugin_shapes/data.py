"""Training batches drawn from the procedural world: prompts, their rendered videos, reproducible by seed."""

from __future__ import annotations

import random

import numpy as np

from f2g_plugin_shapes.world import random_prompt, render, sample_scene


def video_batch(rng: random.Random, size: int) -> tuple[list[str], np.ndarray]:
    """``size`` random prompts (canonical text) and their rendered videos, uint8 (B, F, H, W, 3)."""
    prompts, videos = [], []
    for _ in range(size):
        prompt = random_prompt(rng)
        videos.append(render(sample_scene(prompt, rng)))
        prompts.append(prompt.text())
    return prompts, np.stack(videos)
