"""Pieces every frame-scoring reward of this package shares: options, device/dtype, aggregation, the text cache.

Reading and strictly loading checkpoints is shared with the other reward plugins: see :mod:`f2g_core.checkpoints`.

Nothing here imports torch at module level, so importing the plugin (to list it) stays cheap; the functions that
need torch import it when called, which only happens inside ``load()`` / ``score()``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

import numpy as np
from pydantic import Field

from f2g_core.checkpoints import CHECKPOINT_SUFFIXES
from f2g_core.interfaces import Reward

if TYPE_CHECKING:
    import torch

Aggregate = Literal["mean", "min", "sum"]
DType = Literal["float32", "float16", "bfloat16"]


class FrameRewardOptions(Reward.Options):
    """Options shared by the rewards that score each key frame and aggregate over frames."""

    aggregate: Aggregate = Field(
        "mean",
        description="How per-frame scores become one score per candidate: mean (default), min (worst frame) or sum "
        "(the official Free²Guide code sums).",
    )
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|mps|(cuda|xpu)(:\d+)?)$",
        description="Where the model runs: auto (CUDA when available, else CPU), cpu, cuda, cuda:1, mps, …",
    )
    dtype: DType = Field("float32", description="Weights' dtype; float16/bfloat16 halve memory on GPUs.")
    batch_size: int | None = Field(
        None,
        ge=1,
        description="Most images per forward pass. None: every candidate's key frames in one forward.",
    )


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when it is available: rewards usually share the GPU with the video model."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_dtype(name: str) -> torch.dtype:
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


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


def looks_like_path(value: str) -> bool:
    """Whether ``value`` names a file rather than an open_clip tag: it has a separator or a checkpoint ending.

    Unlike :func:`f2g_core.checkpoints.is_local_checkpoint`, a ``/`` is enough: open_clip tags never contain one.
    """
    return "/" in value or "\\" in value or value.startswith(("~", ".")) or value.endswith(CHECKPOINT_SUFFIXES)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """A small thread-safe LRU: text embeddings are computed once per prompt, and rewards may run in a worker."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: K, make: Callable[[], V]) -> V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        value = make()
        with self._lock:
            self.misses += 1
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
