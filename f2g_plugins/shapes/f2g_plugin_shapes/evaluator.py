"""The exact, rule-based evaluator of the shapes world: it reads pixels, never model internals.

Per frame it segments pixels by nearest palette colour, keeps the largest connected blob of each colour, classifies
the blob's shape by template IoU (circle / square / triangle inscribed in the blob's box) and records its centroid.
Per video it tracks each colour over frames, takes the majority shape, fits a line to the centroid trajectory to
get the motion direction, and checks spatial relations frame by frame. The report follows VBench's
text-alignment dimensions: object class, colour, motion direction, multiple objects, spatial relation, overall.

It also gives a *graded* score in [0, 1] (soft colour mass, soft shape match, soft motion and relation margins)
so that a reward built on it can rank blurry intermediate predictions, where every hard check fails alike.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from f2g_plugin_shapes.grammar import BACKGROUND, COLOURS, SHAPES, Prompt, parse_prompt
from f2g_plugin_shapes.world import SHAPE_SIZE, VELOCITIES, shape_mask

DIMENSIONS: tuple[str, ...] = ("object_class", "colour", "motion", "multiple_objects", "spatial_relation", "overall")
"""The reported dimensions, in table order."""

_COLOUR_NAMES = list(COLOURS)
_PALETTE = np.asarray([*COLOURS.values(), BACKGROUND], dtype=np.float32) / 255.0  # (7, 3); last = background
MAX_DISTANCE = 0.3
"""A pixel belongs to a colour when that colour is its nearest palette entry and closer than this (RGB in [0, 1])."""
MIN_AREA = 12
"""Smallest blob (pixels) that counts as an object; the smallest rendered shape (triangle) has 50."""
MOVING_SPEED = 0.4
"""Pixels per frame above which an object counts as moving (rendered objects move 1 pixel per frame)."""
SOFT_TEMPERATURE = 0.02
"""Temperature of the soft colour assignment used by the graded score."""
EXPECTED_MASS = 40.0
"""Soft colour mass (pixels) at which an object counts as fully present for the graded score."""


@dataclass(frozen=True)
class Blob:
    """The largest blob of one colour on one frame."""

    frame: int
    area: int
    cx: float
    cy: float
    shape: str
    ious: tuple[float, ...]
    """Template IoU for each of SHAPES."""


@dataclass
class Track:
    """One colour followed over the video."""

    colour: str
    blobs: list[Blob]
    num_frames: int

    @property
    def present(self) -> bool:
        return len(self.blobs) * 2 >= self.num_frames

    @property
    def shape(self) -> str | None:
        if not self.blobs:
            return None
        return Counter(b.shape for b in self.blobs).most_common(1)[0][0]

    def velocity(self, frame_indices: Sequence[int]) -> tuple[float, float] | None:
        """Least-squares velocity (pixels per frame index) of the centroid; None with fewer than two blobs."""
        if len(self.blobs) < 2:
            return None
        t = np.asarray([frame_indices[b.frame] for b in self.blobs], dtype=np.float64)
        if np.ptp(t) == 0:
            return None
        xs = np.asarray([b.cx for b in self.blobs])
        ys = np.asarray([b.cy for b in self.blobs])
        return float(np.polyfit(t, xs, 1)[0]), float(np.polyfit(t, ys, 1)[0])


def direction(velocity: tuple[float, float] | None) -> str | None:
    """Motion word of a velocity: still below MOVING_SPEED, else the dominant axis (image y grows downwards)."""
    if velocity is None:
        return None
    vx, vy = velocity
    if math.hypot(vx, vy) < MOVING_SPEED:
        return "still"
    if abs(vx) >= abs(vy):
        return "right" if vx > 0 else "left"
    return "down" if vy > 0 else "up"


def relation_margin(a: tuple[float, float], b: tuple[float, float], relation: str) -> float:
    """How clearly centre ``a`` stands in ``relation`` to centre ``b``: > 0 holds (along-axis minus cross-axis)."""
    dx, dy = a[0] - b[0], a[1] - b[1]
    if relation in ("above", "below"):
        along, across = (-dy if relation == "above" else dy), abs(dx)
    else:
        along, across = (-dx if relation == "left of" else dx), abs(dy)
    return along - across if along > 0 else along - across - 1.0


@dataclass
class Evaluation:
    """The verdict on one video: per-dimension pass/fail (None = not asked by the prompt) and a graded score."""

    prompt: str
    dimensions: dict[str, bool | None]
    score: float
    details: dict[str, object] = field(default_factory=dict)

    @property
    def overall(self) -> bool:
        return bool(self.dimensions["overall"])

    def summary(self) -> str:
        """One line: overall verdict, then each asked dimension."""
        parts = [f"{k}={'ok' if v else 'FAIL'}" for k, v in self.dimensions.items() if v is not None and k != "overall"]
        verdict = "PASS" if self.overall else "FAIL"
        return f"shapes evaluator: {verdict} ({', '.join(parts)}; graded score {self.score:.2f})"


def _classify(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest palette index per pixel (N, H, W) and soft assignments (N, H, W, 7)."""
    d2 = ((frames[..., None, :] - _PALETTE) ** 2).sum(-1)
    nearest = d2.argmin(-1)
    nearest_d = np.sqrt(np.take_along_axis(d2, nearest[..., None], -1)[..., 0])
    hard = np.where(nearest_d < MAX_DISTANCE, nearest, len(_PALETTE) - 1)
    logits = -d2 / SOFT_TEMPERATURE
    soft = np.exp(logits - logits.max(-1, keepdims=True))
    soft /= soft.sum(-1, keepdims=True)
    return hard, soft


def _blob(mask: np.ndarray, frame: int) -> Blob | None:
    from scipy import ndimage  # not at import: every `f2g` command that lists the plugins imports this module

    labels, count = ndimage.label(mask)
    if count == 0:
        return None
    areas = np.bincount(labels.ravel())[1:]
    best = int(areas.argmax()) + 1
    if areas[best - 1] < MIN_AREA:
        return None
    component = labels == best
    ys, xs = np.nonzero(component)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = component[y0:y1, x0:x1]
    ious = []
    for shape in SHAPES:
        template = shape_mask(shape, int(y1 - y0), int(x1 - x0))
        ious.append(float((crop & template).sum() / max((crop | template).sum(), 1)))
    return Blob(
        frame,
        int(component.sum()),
        float(xs.mean()) + 0.5,
        float(ys.mean()) + 0.5,
        SHAPES[int(np.argmax(ious))],
        tuple(ious),
    )


def _tracks(hard: np.ndarray, colours: Sequence[str]) -> dict[str, Track]:
    tracks = {}
    for colour in colours:
        index = _COLOUR_NAMES.index(colour)
        blobs = [b for f in range(hard.shape[0]) if (b := _blob(hard[f] == index, f)) is not None]
        tracks[colour] = Track(colour, blobs, hard.shape[0])
    return tracks


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


def evaluate(prompt: str | Prompt, video: np.ndarray, frame_indices: Sequence[int] | None = None) -> Evaluation:
    """Evaluate a video (F, H, W, 3) float in [0, 1] (or uint8) against ``prompt``.

    ``frame_indices`` are the frames' positions in the full video (default 0..F-1), so key frames alone can be
    scored: motion speed is measured per frame index.
    """
    parsed = parse_prompt(prompt) if isinstance(prompt, str) else prompt
    frames = np.asarray(video)
    frames = frames.astype(np.float32) / 255.0 if frames.dtype == np.uint8 else frames.astype(np.float32)
    indices = list(frame_indices) if frame_indices is not None else list(range(frames.shape[0]))
    hard, soft = _classify(frames)
    tracks = _tracks(hard, [o.colour for o in parsed.objects])

    found: list[bool] = []
    shape_found: list[bool] = []
    motion_ok: list[bool] = []
    soft_terms: list[float] = []
    centres: list[list[tuple[float, float] | None]] = []
    for obj in parsed.objects:
        track = tracks[obj.colour]
        matched = track.present and track.shape == obj.shape
        found.append(matched)
        shape_found.append(any(t.present and t.shape == obj.shape for t in tracks.values()))
        # graded terms: soft colour mass, soft shape agreement, soft motion
        index = _COLOUR_NAMES.index(obj.colour)
        mass = soft[..., index].reshape(frames.shape[0], -1)
        soft_terms.append(float(np.clip(mass.sum(-1) / EXPECTED_MASS, 0, 1).mean()))
        shape_probs = []
        for blob in track.blobs:
            logits = np.asarray(blob.ious) / 0.05
            probs = np.exp(logits - logits.max())
            shape_probs.append(float(probs[SHAPES.index(obj.shape)] / probs.sum()))
        soft_terms.append(float(np.sum(shape_probs) / frames.shape[0]))
        weights = mass / np.maximum(mass.sum(-1, keepdims=True), 1e-6)
        ys, xs = np.divmod(np.arange(frames.shape[1] * frames.shape[2]), frames.shape[2])
        soft_centres = np.stack([(weights * (xs + 0.5)).sum(-1), (weights * (ys + 0.5)).sum(-1)], -1)
        by_frame: dict[int, tuple[float, float]] = {b.frame: (b.cx, b.cy) for b in track.blobs}
        centres.append([by_frame.get(f) for f in range(frames.shape[0])])
        if obj.motion is not None:
            velocity = track.velocity(indices)
            motion_ok.append(matched and direction(velocity) == obj.motion)
            t = np.asarray(indices, dtype=np.float64)
            if frames.shape[0] >= 2 and np.ptp(t) > 0:
                svx = float(np.polyfit(t, soft_centres[:, 0], 1)[0])
                svy = float(np.polyfit(t, soft_centres[:, 1], 1)[0])
            else:
                svx = svy = 0.0
            if obj.motion == "still":
                soft_terms.append(_sigmoid((MOVING_SPEED - math.hypot(svx, svy)) / 0.1))
            else:
                ux, uy = VELOCITIES[obj.motion]
                soft_terms.append(_sigmoid((svx * ux + svy * uy - 0.5) / 0.15))

    relation_ok: bool | None = None
    if parsed.relation is not None:
        pairs = [(a, b) for a, b in zip(centres[0], centres[1], strict=True) if a is not None and b is not None]
        holds = [relation_margin(a, b, parsed.relation) > 0 for a, b in pairs]
        relation_ok = all(found) and len(pairs) * 2 >= frames.shape[0] and sum(holds) * 2 > len(holds)
        margins = [relation_margin(a, b, parsed.relation) for a, b in pairs]
        soft_terms.append(float(np.sum([_sigmoid(m / 2.0) for m in margins]) / frames.shape[0]))

    dims: dict[str, bool | None] = {
        "object_class": all(shape_found),
        "colour": all(found),
        "motion": all(motion_ok) if motion_ok else None,
        "multiple_objects": all(found) if len(parsed.objects) > 1 else None,
        "spatial_relation": relation_ok,
    }
    dims["overall"] = all(v for v in dims.values() if v is not None)
    score = 0.5 * float(bool(dims["overall"])) + 0.5 * float(np.mean(soft_terms))
    details: dict[str, object] = {
        "tracks": {
            c: {"frames": len(t.blobs), "shape": t.shape, "velocity": t.velocity(indices)} for c, t in tracks.items()
        },
        "soft_terms": soft_terms,
    }
    return Evaluation(parsed.text(), dims, score, details)


def shape_size() -> int:
    """Rendered shape size (pixels), for documentation and tests."""
    return SHAPE_SIZE
