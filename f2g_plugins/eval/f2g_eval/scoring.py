"""Scoring a video with metrics, apart from making it: what a score is, and the frames every metric sees.

A score is one column of one metric at one version for one video (:class:`Score`), kept in the store apart from
the video, so a metric added to a finished eval, or a new version of one, scores the stored videos without making
them again. For that every score is computed from the same frames whenever it is made: the video's 8-bit frames
(what every video file holds), kept losslessly beside its run directory's video files as ``frames.npz`` — decoding
the MP4 or GIF instead would shift the scores (chroma subsampling and palettes change colours). A video made in
this run is scored from the same 8-bit frames in memory, so its scores equal those of a later re-scoring.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from f2g_core.errors import F2GError
from f2g_core.evaluation import Metric, SuiteItem
from f2g_core.outputs import to_uint8

FRAMES = "frames.npz"
"""The file in a run directory that holds its video's 8-bit frames (numpy's compressed archive, key ``frames``)."""


@dataclass(frozen=True)
class Score:
    """One value of one video: ``value`` None where the column does not apply, NaN when it failed (``error``
    says why, naming the metric)."""

    key: tuple[str, int, str]
    """The video: (item id, seed, config hash)."""
    metric: str
    version: int
    column: str
    value: float | None
    error: str | None = None


def eight_bit(video: np.ndarray) -> np.ndarray:
    """The frames as a video file holds them: uint8 (F, H, W, 3)."""
    return to_uint8(np.asarray(video))


def save_frames(directory: Path, frames: np.ndarray) -> Path:
    """Write ``frames`` (uint8) as ``directory/frames.npz``, complete or not at all (written aside, then renamed)."""
    target = directory / FRAMES
    partial = directory / f".{FRAMES}.partial"
    with partial.open("wb") as handle:
        np.savez_compressed(handle, frames=frames)
    os.replace(partial, target)
    return target


def load_frames(directory: Path) -> np.ndarray:
    """The uint8 frames of the video saved in ``directory``."""
    path = directory / FRAMES
    if not path.is_file():
        raise F2GError(
            f"{path} is missing: the video was made before f2g eval kept its frames (or the file was deleted), and "
            "scoring its decoded MP4/GIF would give other values; make it again in a new --out"
        )
    with np.load(path) as archive:
        return np.asarray(archive["frames"])


def describe(error: BaseException) -> str:
    """A failure as one line: an f2g error's own message, anything else with its type."""
    return str(error) if isinstance(error, F2GError) else f"{type(error).__name__}: {error}"


def _number(value: object) -> tuple[float | None, str | None]:
    """A metric's value as stored, and what was wrong with it: None (does not apply) stays None; NaN marks a
    failed value — a NaN, an infinite number or anything that is not a number — with the reason."""
    if value is None:
        return None, None
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if not isinstance(value, numbers.Real):
        return math.nan, f"returned {type(value).__name__} {str(value)[:40]!r}, not a number"
    number = float(value)
    return (number, None) if math.isfinite(number) else (math.nan, f"returned {number}, not a finite number")


def measure(
    metrics: Sequence[Metric],
    key: tuple[str, int, str],
    item: SuiteItem,
    frames: np.ndarray,
    fps: float | None = None,
) -> list[Score]:
    """Every metric's scores of one video, from its uint8 ``frames`` (made at ``fps`` frames per second, None when
    the backbone does not say).

    A metric that raises (``SystemExit`` included) or returns something that is not a number fails only its own
    values: they are NaN ("failed", distinct from None, "does not apply") with the reason as their error.
    """
    video = frames.astype(np.float32) / 255.0
    scores: list[Score] = []
    for metric in metrics:
        dims = metric.dimensions or (metric.name,)
        columns = metric.columns()
        try:
            measured = metric.measure_video(item, video, fps)
            if not isinstance(measured, Mapping):
                raise TypeError(f"measure() returned {type(measured).__name__}, not a mapping of dimension to value")
        except (Exception, SystemExit) as error:
            note = f"metric {metric.name!r} failed: {describe(error)}"
            scores += [Score(key, metric.name, metric.version, column, math.nan, note) for column in columns]
            continue
        for column, dim in zip(columns, dims, strict=True):
            value, problem = _number(measured.get(dim))
            reason = f"metric {metric.name!r} ({dim}) failed: it {problem}" if problem else None
            scores.append(Score(key, metric.name, metric.version, column, value, reason))
    return scores
