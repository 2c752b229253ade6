"""What every reward that scores key frames (or clips) with a torch model shares: options, NaN masks, aggregation.

``clip``, ``pickscore``, ``hps``, ``imagereward`` and ``viclip`` take the same ``device`` / ``dtype`` /
``batch_size`` options, and the per-frame ones the same ``aggregate``; a candidate whose frames are not all finite
scores NaN, never a guess.
"""

from __future__ import annotations

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
