"""The procedural shapes world: scene sampling and a pixel-exact renderer.

A scene is one or two flat-coloured shapes (10×10 pixels) on a plain dark background, 16 frames of 32×32 pixels,
each shape moving one pixel per frame in a direction or staying still. Scenes are sampled by rejection so that
every object stays fully inside the frame, objects never touch, and a requested spatial relation holds on every
frame with a clear margin — so the rendered ground truth is unambiguous for the evaluator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

import numpy as np

from f2g_plugin_shapes.grammar import (
    BACKGROUND,
    COLOURS,
    MOTIONS,
    SHAPES,
    ObjectSpec,
    Prompt,
    PromptError,
    parse_prompt,
)

NUM_FRAMES = 16
FPS = 8.0
"""Frames per second of shapes videos: the rate f2g writes them at by default (2 seconds of motion)."""
SIZE = 32
SHAPE_SIZE = 10
SPEED = 1
"""Pixels per frame for moving objects (15 pixels over a video)."""

VELOCITIES: dict[str, tuple[int, int]] = {
    "left": (-1, 0),
    "right": (1, 0),
    "up": (0, -1),
    "down": (0, 1),
    "still": (0, 0),
}


@cache
def shape_mask(shape: str, height: int = SHAPE_SIZE, width: int = SHAPE_SIZE) -> np.ndarray:
    """The boolean mask of ``shape`` inscribed in a ``height``×``width`` box (also the evaluator's template)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    cy, cx = (ys + 0.5) / height, (xs + 0.5) / width  # pixel centres in [0, 1]
    if shape == "square":
        return np.ones((height, width), dtype=bool)
    if shape == "circle":
        return (cx - 0.5) ** 2 + (cy - 0.5) ** 2 <= 0.25 + 1e-9
    if shape == "triangle":  # apex at the top centre, base along the bottom
        return np.abs(cx - 0.5) <= 0.5 * cy + 1e-9
    raise ValueError(f"unknown shape {shape!r}")


@dataclass(frozen=True)
class PlacedObject:
    """An object of a scene: what it is and where its box's top-left corner is on frame 0, and its velocity."""

    colour: str
    shape: str
    motion: str
    x: int
    y: int

    def position(self, frame: int) -> tuple[int, int]:
        """Top-left corner on ``frame``."""
        vx, vy = VELOCITIES[self.motion]
        return self.x + SPEED * vx * frame, self.y + SPEED * vy * frame

    def centre(self, frame: int) -> tuple[float, float]:
        """Centre (x, y) in pixel coordinates on ``frame``."""
        x, y = self.position(frame)
        return x + SHAPE_SIZE / 2, y + SHAPE_SIZE / 2


@dataclass(frozen=True)
class Scene:
    """A fully specified video: the objects and the background colour."""

    objects: tuple[PlacedObject, ...]
    background: tuple[int, int, int] = BACKGROUND


def _relation_holds(a: PlacedObject, b: PlacedObject, relation: str, frame: int) -> bool:
    (ax, ay), (bx, by) = a.centre(frame), b.centre(frame)
    dx, dy = ax - bx, ay - by
    if relation in ("above", "below"):
        along, across = (-dy if relation == "above" else dy), abs(dx)
    else:
        along, across = (-dx if relation == "left of" else dx), abs(dy)
    return along >= SHAPE_SIZE + 2 and across <= 0.5 * along


def _boxes_apart(a: PlacedObject, b: PlacedObject, frame: int, gap: int = 2) -> bool:
    (ax, ay), (bx, by) = a.position(frame), b.position(frame)
    return (
        ax + SHAPE_SIZE + gap <= bx
        or bx + SHAPE_SIZE + gap <= ax
        or ay + SHAPE_SIZE + gap <= by
        or by + SHAPE_SIZE + gap <= ay
    )


def _start_range(motion: str) -> tuple[range, range]:
    """Top-left corners on frame 0 that keep the object inside the frame for the whole video."""
    vx, vy = VELOCITIES[motion]
    travel = SPEED * (NUM_FRAMES - 1)
    limit = SIZE - SHAPE_SIZE

    def axis(v: int) -> range:
        if v > 0:
            return range(0, limit - travel + 1)
        if v < 0:
            return range(travel, limit + 1)
        return range(0, limit + 1)

    return axis(vx), axis(vy)


def sample_scene(prompt: Prompt, seed: int | random.Random) -> Scene:
    """Sample a scene that satisfies ``prompt``; unconstrained attributes (motion) are drawn at random."""
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    specs = prompt.objects
    for _ in range(5000):
        if prompt.relation is not None:
            shared = rng.choice(MOTIONS)
            motions = [shared for _ in specs]
        else:
            motions = [o.motion if o.motion is not None else rng.choice(MOTIONS) for o in specs]
        placed = []
        for spec, motion in zip(specs, motions, strict=True):
            xs, ys = _start_range(motion)
            placed.append(PlacedObject(spec.colour, spec.shape, motion, rng.choice(xs), rng.choice(ys)))
        if len(placed) == 2:
            a, b = placed
            if not all(_boxes_apart(a, b, f) for f in range(NUM_FRAMES)):
                continue
            if prompt.relation is not None and not all(
                _relation_holds(a, b, prompt.relation, f) for f in range(NUM_FRAMES)
            ):
                continue
        return Scene(tuple(placed))
    raise PromptError(f"could not place the objects of {prompt.text()!r} in a {SIZE}x{SIZE} frame")


def render(scene: Scene) -> np.ndarray:
    """Render ``scene`` as uint8 frames (NUM_FRAMES, SIZE, SIZE, 3)."""
    video = np.empty((NUM_FRAMES, SIZE, SIZE, 3), dtype=np.uint8)
    video[:] = np.asarray(scene.background, dtype=np.uint8)
    for obj in scene.objects:
        mask = shape_mask(obj.shape)
        colour = np.asarray(COLOURS[obj.colour], dtype=np.uint8)
        for f in range(NUM_FRAMES):
            x, y = obj.position(f)
            region = video[f, y : y + SHAPE_SIZE, x : x + SHAPE_SIZE]
            region[mask] = colour
    return video


def render_prompt(prompt: str | Prompt, seed: int = 0) -> np.ndarray:
    """Parse (if needed) and render a prompt: float32 frames (NUM_FRAMES, SIZE, SIZE, 3) in [0, 1]."""
    parsed = parse_prompt(prompt) if isinstance(prompt, str) else prompt
    return render(sample_scene(parsed, seed)).astype(np.float32) / 255.0


def random_prompt(rng: random.Random, category: str | None = None, motion_prob: float = 0.8) -> Prompt:
    """Draw a prompt from the grammar: ``category`` single / multiple / relation (None: 40/30/30)."""
    if category is None:
        category = rng.choices(["single", "multiple", "relation"], weights=[0.4, 0.3, 0.3])[0]
    colours = rng.sample(list(COLOURS), 2)

    def obj(colour: str, with_motion: bool) -> ObjectSpec:
        motion = rng.choice(MOTIONS) if with_motion and rng.random() < motion_prob else None
        return ObjectSpec(colour, rng.choice(SHAPES), motion)

    if category == "single":
        return Prompt((obj(colours[0], True),))
    if category == "multiple":
        return Prompt((obj(colours[0], True), obj(colours[1], True)))
    if category == "relation":
        from f2g_plugin_shapes.grammar import RELATIONS

        return Prompt((obj(colours[0], False), obj(colours[1], False)), rng.choice(RELATIONS))
    raise ValueError(f"unknown category {category!r}")
