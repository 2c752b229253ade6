"""Training examples for the judge: (prompt, labelled key-frame grid, rating 1..9) from rendered videos.

Videos are rendered for the prompt itself (rating 9) or for a prompt with 1–3 attributes changed (wrong colour,
shape, motion or relation, or a missing object), rated 5 / 2 / 1, and then degraded to look like generated
frames and intermediate predictions: blur, contrast loss towards the background, noise, colour shifts, and blends
with another rendering of the same prompt (the "average of possibilities" look of early x̂0). The judge is never
shown the evaluator's output: labels come from how the example was made.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
from f2g_core.images import key_frame_grid
from PIL import Image
from scipy import ndimage

from f2g_plugin_shapes.grammar import BACKGROUND, COLOURS, MOTIONS, RELATIONS, SHAPES, Prompt
from f2g_plugin_shapes.world import random_prompt, render, sample_scene

KEY_FRAMES = (0, 5, 10, 15)
RATING_BY_ERRORS = {0: 9, 1: 5, 2: 2}
_FLIP = {"above": "below", "below": "above", "left of": "right of", "right of": "left of"}


def perturb(prompt: Prompt, rng: random.Random) -> Prompt | None:
    """Change one asked-for attribute so that a video of the result contradicts ``prompt``; None if impossible."""
    objects = list(prompt.objects)
    choices = ["colour", "shape"]
    if any(o.motion is not None for o in objects):
        choices.append("motion")
    if prompt.relation is not None:
        choices += ["relation", "relation"]
    if len(objects) == 2:
        choices.append("drop")
    kind = rng.choice(choices)
    i = rng.randrange(len(objects))
    if kind == "colour":
        used = {o.colour for o in objects}
        objects[i] = replace(objects[i], colour=rng.choice([c for c in COLOURS if c not in used]))
    elif kind == "shape":
        objects[i] = replace(objects[i], shape=rng.choice([s for s in SHAPES if s != objects[i].shape]))
    elif kind == "motion":
        i = rng.choice([k for k, o in enumerate(objects) if o.motion is not None])
        objects[i] = replace(objects[i], motion=rng.choice([m for m in MOTIONS if m != objects[i].motion]))
    elif kind == "relation":
        assert prompt.relation is not None
        other = [r for r in RELATIONS if r != prompt.relation]
        new = _FLIP[prompt.relation] if rng.random() < 0.6 else rng.choice(other)
        return Prompt(tuple(objects), new)
    elif kind == "drop":
        return Prompt((objects[1 - i],))
    return Prompt(tuple(objects), prompt.relation)


def degrade(video: np.ndarray, rng: random.Random, other: np.ndarray | None) -> np.ndarray:
    """Make a clean float video (F, H, W, 3) look generated (see the module docstring)."""
    out = video.copy()
    if other is not None and rng.random() < 0.3:
        out = (1 - (w := rng.uniform(0.2, 0.5))) * out + w * other
    if rng.random() < 0.7:
        sigma = rng.uniform(0.3, 2.5) if rng.random() < 0.8 else rng.uniform(2.5, 4.0)
        out = ndimage.gaussian_filter(out, sigma=(0, sigma, sigma, 0))
    bg = np.asarray(BACKGROUND, dtype=np.float32) / 255.0
    if rng.random() < 0.5:
        out = bg + rng.uniform(0.35, 1.0) * (out - bg)
    if rng.random() < 0.4:
        out = out + np.asarray([rng.uniform(-0.08, 0.08) for _ in range(3)], dtype=np.float32)
    if rng.random() < 0.5:
        out = out + rng.uniform(0.0, 0.08) * np.random.default_rng(rng.getrandbits(32)).standard_normal(out.shape)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def example(rng: random.Random) -> tuple[str, Image.Image, int]:
    """One (prompt, grid, rating) example."""
    prompt = random_prompt(rng)
    errors = 0 if rng.random() < 0.4 else (1 if rng.random() < 0.75 else 2)
    shown = prompt
    for _ in range(errors):
        changed = perturb(shown, rng)
        if changed is None:
            break
        shown = changed
    if errors and shown.text() == prompt.text():
        errors = 0
    keys = list(KEY_FRAMES)
    video = render(sample_scene(shown, rng))[keys].astype(np.float32) / 255.0
    other = render(sample_scene(shown, rng))[keys].astype(np.float32) / 255.0
    grid = key_frame_grid(degrade(video, rng, other))
    return prompt.text(), grid, RATING_BY_ERRORS[min(errors, 2)]
