"""Rewards and metrics that read their own frames of the video, as their reference code does (``videoscore``,
``videoreward``): which key frames stand in, NaN for non-finite candidates, usage and trace facts, written once.

A guided step hands a reward its configured key frames. A reference that samples its own frames of the video (all
of them up to a budget, or 2 per second of the real frame rate) is then served the nearest key frames, with one
warning naming the key frames to configure for faithful scores. The metric sees the finished video and takes the
reference's frames itself (:func:`finite_clip`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from f2g_core.images import nearest_key_frames
from f2g_core.interfaces import Reward, RewardBatch
from f2g_torch_utils.engines import E, EngineHost
from f2g_torch_utils.frames import finite_candidates


class KeyFrameStandIn:
    """The key frames that stand in for the frames a reference reads, with one warning per layout (key frames,
    video length and the words on how the frames were chosen)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._warned: set[tuple[tuple[int, ...], int, str]] = set()

    def positions(self, batch: RewardBatch, wanted: list[int], context: str = "") -> list[int]:
        """Positions in ``batch``'s key frames of the frames nearest to ``wanted``; ``context`` completes the
        warning's "for a N-frame video…" (e.g. ``" at 8 fps"``)."""
        positions = nearest_key_frames(batch.frame_indices, wanted)
        key = (tuple(batch.frame_indices), batch.num_frames, context)
        if [batch.frame_indices[p] for p in positions] != wanted and key not in self._warned:
            self._warned.add(key)
            logging.getLogger(f"f2g.{self.what}").warning(
                "%s: for a %d-frame video%s the reference scores frames %s; the key frames %s stand in with the "
                "nearest ones (set guidance.key_frames to %s for faithful scores)",
                self.what,
                batch.num_frames,
                context,
                wanted,
                list(batch.frame_indices),
                wanted,
            )
        return positions


class ClipReward(EngineHost[E], Reward):
    """A reward that scores each candidate's clip (the key frames standing in for the reference's frames) with its
    engine. The plugin says which frames its reference reads (:meth:`reference_frames`) and how a clip's outputs
    become one score (:meth:`combined`); :attr:`traced_options` names the options worth keeping in the trace."""

    traced_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: BaseModel | None = None) -> None:
        super().__init__(options)
        self._stand_in = KeyFrameStandIn(self.name)
        self._usage = {"calls": 0.0, "candidates": 0.0}

    def reference_frames(self, batch: RewardBatch) -> tuple[list[int], str]:
        """The frames of the batch's video that the reference reads, and how they were chosen in words for the
        warning (e.g. ``" at 8 fps"``; empty when the video's length says it all)."""
        raise NotImplementedError

    def combined(self, clips: list[np.ndarray], prompt: str) -> np.ndarray:
        """(n,) scores of n uint8 clips of one prompt."""
        raise NotImplementedError

    def frames_for(self, batch: RewardBatch) -> list[int]:
        """Positions in the batch's key frames of the frames to score (the reference's, or the nearest ones)."""
        wanted, context = self.reference_frames(batch)
        return self._stand_in.positions(batch, wanted, context)

    def score(self, batch: RewardBatch) -> list[float]:
        """The combined score of each candidate's clip; NaN for a candidate whose frames are not all finite."""
        positions = self.frames_for(batch)
        ok = np.flatnonzero(finite_candidates(batch.frames))
        out = np.full(len(batch), math.nan)
        if len(ok):
            with np.errstate(invalid="ignore"):  # the non-finite candidates' frames, left out below
                clips = batch.uint8()[ok][:, positions]
            out[ok] = self.combined(list(clips), batch.prompt)
        self._usage["calls"] += 1
        self._usage["candidates"] += len(ok)
        return [float(v) for v in out]

    def usage(self) -> Mapping[str, float]:
        return dict(self._usage)

    def trace_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"model": self.options.model}
        for name in self.traced_options:
            value = getattr(self.options, name)
            info[name] = list(value) if isinstance(value, list) else value
        if self._engine is not None:
            info["checkpoint"] = self._engine.settings.source
        return info


def finite_clip(video: np.ndarray, indices: Callable[[int], Sequence[int]]) -> np.ndarray | None:
    """The uint8 frames ``indices(len(video))`` of a finished [0, 1] video, or None when any frame is not finite
    (its scores are then NaN, never a guess)."""
    frames = np.asarray(video)
    if not np.isfinite(frames).all():
        return None
    wanted = list(indices(frames.shape[0]))
    return np.clip(np.rint(frames[wanted] * 255.0), 0, 255).astype(np.uint8)
