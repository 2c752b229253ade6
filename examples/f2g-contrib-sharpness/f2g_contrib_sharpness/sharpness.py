"""A synchronous reward: the mean gradient magnitude of the key frames (sharper = higher)."""

from __future__ import annotations

# --8<-- [start:reward]
from collections.abc import Sequence

import numpy as np
from pydantic import Field

from f2g_core.interfaces import Reward, RewardBatch


class Sharpness(Reward):
    """Prefers sharp videos: mean absolute difference between neighbouring pixels of the key frames."""

    name = "sharpness"

    class Options(Reward.Options):  # extra="forbid" is inherited: an unknown key is an error naming it
        scale: float = Field(1.0, gt=0, description="Multiplies every score.")
        channel: int | None = Field(None, ge=0, le=2, description="Only this RGB channel; None = their mean.")

    def load(self) -> None:
        """Heavy work (weights, clients) goes here, never at import time; this reward needs none."""

    def score(self, batch: RewardBatch) -> Sequence[float]:
        frames = batch.frames  # (N candidates, F key frames, H, W, 3), float32 in [0, 1]
        grey = frames.mean(axis=-1) if self.options.channel is None else frames[..., self.options.channel]
        across = np.abs(np.diff(grey, axis=-1)).mean(axis=(1, 2, 3))
        down = np.abs(np.diff(grey, axis=-2)).mean(axis=(1, 2, 3))
        return [float(value) * self.options.scale for value in across + down]


# --8<-- [end:reward]
