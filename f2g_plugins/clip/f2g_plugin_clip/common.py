"""Pieces every frame-scoring reward of this package shares: options, device/dtype, aggregation, checkpoints.

Nothing here imports torch at module level, so importing the plugin (to list it) stays cheap; the functions that
need torch import it when called, which only happens inside ``load()`` / ``score()``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import numpy as np
from pydantic import Field

from f2g_core.errors import ComponentError
from f2g_core.interfaces import Reward

if TYPE_CHECKING:
    import torch

Aggregate = Literal["mean", "min", "sum"]
DType = Literal["float32", "float16", "bfloat16"]

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")
"""File endings that mark a ``pretrained`` value as a local checkpoint rather than an open_clip tag."""


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
    """Whether ``value`` names a file rather than a registry tag: it has a separator or a checkpoint ending."""
    return "/" in value or "\\" in value or value.startswith(("~", ".")) or value.endswith(CHECKPOINT_SUFFIXES)


def read_state_dict(path: str | Path, *, what: str) -> dict[str, torch.Tensor]:
    """Read a checkpoint file (torch pickle or safetensors) into a flat state dict.

    Accepts the layouts checkpoints are published in: a bare state dict, one nested under ``state_dict`` /
    ``model`` / ``module``, and keys prefixed with ``module.`` (DistributedDataParallel). Raises
    :class:`ComponentError` naming the file when it is missing or unreadable.
    """
    import torch

    file = Path(path).expanduser()
    if not file.is_file():
        raise ComponentError(f"{what}: checkpoint file {str(file)!r} does not exist")
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(file))
        else:
            state = torch.load(str(file), map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and safetensors errors have no common base
        raise ComponentError(f"{what}: cannot read checkpoint {str(file)!r}: {error}") from error
    for key in ("state_dict", "model", "module"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ComponentError(f"{what}: {str(file)!r} does not hold a state dict of tensors")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def load_strict(module: torch.nn.Module, state: Mapping[str, torch.Tensor], *, what: str, source: str) -> None:
    """Load ``state`` into ``module`` and fail with a readable list of missing/unexpected/mis-shaped keys.

    A reward silently scoring with half-random weights is the worst failure mode there is, so every key the
    module has must be present with the right shape.
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:5])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:5])})")
        if shapes:
            parts.append(f"{len(shapes)} mis-shaped tensors (e.g. {'; '.join(shapes[:3])})")
        raise ComponentError(f"{what}: checkpoint {source!r} does not fit the model: " + "; ".join(parts))
    module.load_state_dict(state, strict=True)


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
