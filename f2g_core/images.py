"""Frame helpers shared by rewards: PIL conversion and the labelled key-frame grid LVLMs are shown."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] (any leading shape, channels last) to uint8."""
    if frames.dtype == np.uint8:
        return frames
    return np.clip(np.rint(np.asarray(frames, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def to_pil(frame: np.ndarray) -> Image.Image:
    """One (H, W, 3) frame, float in [0, 1] or uint8, as an RGB PIL image."""
    return Image.fromarray(to_uint8(frame), mode="RGB")


@functools.lru_cache(maxsize=1)
def _label_font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """PIL's default font, loaded once: loading it per grid costs about a millisecond per candidate."""
    return ImageFont.load_default()


def key_frame_grid(frames: np.ndarray, labels: bool = True, columns: int | None = None) -> Image.Image:
    """Arrange F key frames (F, H, W, 3) row by row in a grid: 2×2 for four frames, as in Free²Guide.

    With ``labels`` each tile carries its 1-based position in the top-left corner, so a prompt can say
    "the top-left image is the first frame". Tiles smaller than 64 pixels are upscaled (nearest) so the label
    stays legible and small models' frames are visible.
    """
    frames = to_uint8(np.asarray(frames))
    count, height, width = frames.shape[0], frames.shape[1], frames.shape[2]
    cols = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    scale = max(1, math.ceil(64 / min(height, width)))
    tile_h, tile_w = height * scale, width * scale
    grid = Image.new("RGB", (cols * tile_w, rows * tile_h), (0, 0, 0))
    draw = ImageDraw.Draw(grid)
    for i in range(count):
        tile = Image.fromarray(frames[i], mode="RGB")
        if scale > 1:
            tile = tile.resize((tile_w, tile_h), Image.Resampling.NEAREST)
        x, y = (i % cols) * tile_w, (i // cols) * tile_h
        grid.paste(tile, (x, y))
        if labels:
            text = str(i + 1)
            box = draw.textbbox((0, 0), text, font=_label_font())
            draw.rectangle((x, y, x + box[2] + 4, y + box[3] + 4), fill=(0, 0, 0))
            draw.text((x + 2, y + 2), text, fill=(255, 255, 255), font=_label_font())
    return grid


def nearest_key_frames(available: Sequence[int], wanted: Sequence[int]) -> list[int]:
    """Positions in ``available`` (key frame indices) of the frame nearest to each of ``wanted`` (earlier on ties):
    how a reward that reads its own frames of the video stands in with the key frames it was given."""
    have = np.asarray(available)
    return [int(np.argmin(np.abs(have - index))) for index in wanted]
