"""Writing a run directory: the video (mp4, gif), the key-frame grid, the resolved config and the trace."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np

from f2g_core.config import dump_yaml
from f2g_core.images import key_frame_grid, to_uint8


def run_directory(parent: Path, prompt: str, seed: int) -> Path:
    """A new, unique folder ``<parent>/<time>-<prompt slug>-s<seed>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:48] or "run"
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-s{seed}"
    candidate, counter = parent / stem, 1
    while candidate.exists():
        counter += 1
        candidate = parent / f"{stem}-{counter}"
    candidate.mkdir(parents=True)
    return candidate


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad height and width to even sizes by repeating the edge: H.264 in yuv420p needs even dimensions."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if not (pad_h or pad_w):
        return frames
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def write_video(path: Path, video: np.ndarray, fps: int) -> Path:
    """Write (F, H, W, 3) frames in [0, 1] (or uint8) as mp4 (H.264 via PyAV) or gif (Pillow), by suffix."""
    frames = to_uint8(np.asarray(video))
    if path.suffix == ".mp4":
        iio.imwrite(path, _even(frames), fps=fps, codec="libx264", plugin="pyav")
    elif path.suffix == ".gif":
        iio.imwrite(path, frames, duration=1000.0 / fps, loop=0, plugin="pillow")
    else:
        raise ValueError(f"unsupported video format {path.suffix!r}")
    return path


def write_run(
    directory: Path,
    video: np.ndarray,
    key_frames: Sequence[int],
    config: Mapping[str, Any],
    trace: Mapping[str, Any],
    formats: Sequence[str] = ("mp4", "gif"),
    fps: int = 8,
) -> dict[str, Path]:
    """Write every artefact of a run into ``directory``; returns them by kind."""
    written = {fmt: write_video(directory / f"video.{fmt}", video, fps) for fmt in formats}
    grid = directory / "grid.png"
    key_frame_grid(np.asarray(video)[list(key_frames)]).save(grid)
    written["grid"] = grid
    written["config"] = directory / "config.yaml"
    written["config"].write_text(dump_yaml(config), encoding="utf-8")
    written["trace"] = directory / "trace.json"
    written["trace"].write_text(json.dumps(trace, indent=1), encoding="utf-8")
    return written
