"""What every reward that scores key frames (or clips) with a torch model shares: options, NaN masks, aggregation.

``clip``, ``pickscore``, ``hps``, ``imagereward`` and ``viclip`` take the same ``device`` / ``dtype`` /
``batch_size`` options, and the per-frame ones the same ``aggregate``; a candidate whose frames are not all finite
scores NaN, never a guess.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field

from f2g_core.interfaces import Reward
from f2g_torch_utils.devices import DEVICE_PATTERN, DType

Aggregate = Literal["mean", "min", "sum"]


class TorchRewardOptions(Reward.Options):
    """Options of a reward running a torch model: where, in which dtype, and how many inputs per forward."""

    device: str = Field(
        "auto",
        pattern=DEVICE_PATTERN,
        description="Where the model runs: auto (CUDA when available, else CPU), cpu, cuda, cuda:1, mps, …",
    )
    dtype: DType = Field("float32", description="Weights' dtype; float16/bfloat16 halve memory on GPUs.")
    batch_size: int | None = Field(
        None,
        ge=1,
        description="Most inputs (images or clips) per forward pass. None: every candidate's in one forward.",
    )


class FrameRewardOptions(TorchRewardOptions):
    """Options of the rewards that score each key frame and aggregate over frames."""

    aggregate: Aggregate = Field(
        "mean",
        description="How per-frame scores become one score per candidate: mean (default), min (worst frame) or sum "
        "(the official Free²Guide code sums).",
    )


def aggregate_frames(scores: np.ndarray, how: str) -> np.ndarray:
    """(N, F) per-frame scores to N candidate scores; a candidate with any NaN frame stays NaN."""
    if how == "mean":
        return scores.mean(axis=1)
    if how == "min":
        return scores.min(axis=1)
    if how == "sum":
        return scores.sum(axis=1)
    raise ValueError(f"unknown aggregate {how!r}")


def finite_candidates(frames: np.ndarray) -> np.ndarray:
    """Boolean mask (N,) of candidates whose frames are all finite; the others must score NaN, never a guess."""
    return np.isfinite(frames.reshape(frames.shape[0], -1)).all(axis=1)


FRAME_FACTOR = 2
"""Qwen-VL vision towers take video frames in pairs (a temporal patch holds two)."""
MIN_FRAMES = 4
MAX_FRAMES = 768


def frame_count(total: int, fps: float, sample_fps: float) -> int:
    """How many of a video's ``total`` frames qwen-vl-utils keeps (VideoReward, VideoScore2 …): ``sample_fps`` per
    second of the video at its real ``fps``, at least 4 (fewer only when the video is shorter), an even number."""
    if total < FRAME_FACTOR:
        raise ValueError(f"a video of {total} frame(s) is too short: Qwen-VL video judges need at least {FRAME_FACTOR}")
    lowest = math.ceil(MIN_FRAMES / FRAME_FACTOR) * FRAME_FACTOR
    highest = math.floor(min(MAX_FRAMES, total) / FRAME_FACTOR) * FRAME_FACTOR
    wanted = min(max(total / fps * sample_fps, lowest), highest)
    return min(round(wanted / FRAME_FACTOR) * FRAME_FACTOR, total)


def frame_indices(total: int, fps: float, sample_fps: float) -> list[int]:
    """The frames qwen-vl-utils reads: :func:`frame_count` of them, evenly spaced from the first to the last."""
    import torch

    count = frame_count(total, fps, sample_fps)
    return [int(i) for i in torch.linspace(0, total - 1, count).round().long().tolist()]
