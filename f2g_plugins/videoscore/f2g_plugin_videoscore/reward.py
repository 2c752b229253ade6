"""The ``videoscore`` reward and metric: VideoScore-v1.1 scores a video on five aspects with Idefics2-8B and a
regression head, exactly as its reference code does.

The reward sees the key frames of a guided step; the reference scores every frame of a video of up to 48 frames
(else 48 evenly spaced ones), so when the key frames do not include the frames the reference would take, the
nearest ones stand in and a warning names the key frames to configure. No frame rate is involved. The metric
(``f2g eval --metric videoscore``) sees the whole finished video and reports each aspect and their mean as columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Literal

import numpy as np
from f2g_torch_utils.engines import EngineHost, ModelFolderOptions
from f2g_torch_utils.video_rewards import ClipReward, finite_clip
from pydantic import Field

from f2g_core.evaluation import Metric, SuiteItem
from f2g_core.interfaces import RewardBatch
from f2g_plugin_videoscore.engine import DIMENSIONS, Dimension, Engine
from f2g_plugin_videoscore.preprocess import MAX_FRAMES, frame_indices

Combine = Literal["mean", "sum"]


class VideoScoreModelOptions(ModelFolderOptions):
    """Which VideoScore, where it runs, and how it samples frames (shared by the reward and the metric)."""

    model: str = Field(
        "TIGER-Lab/VideoScore-v1.1",
        description="Hub repo or local folder of a VideoScore checkpoint (config.json, safetensors shards, "
        "tokenizer and processor files), or 'tiny': a seeded random miniature built offline for tests and demos.",
    )
    max_frames: int = Field(
        MAX_FRAMES,
        ge=1,
        description="Most frames scored per video (VideoScore-v1.1: 48; v1.0 was trained with 16): longer videos "
        "are sampled at arange(0, total, total / max_frames), as the reference does.",
    )
    frames_per_pass: int = Field(
        8, ge=1, description="Frames through the vision tower at a time (memory only; the reference uses 2)."
    )


class VideoScoreOptions(VideoScoreModelOptions):
    dimensions: list[Dimension] = Field(
        default_factory=lambda: list(DIMENSIONS),
        min_length=1,
        description="Aspects combined into the score: visual_quality, temporal_consistency, dynamic_degree, "
        "text_alignment, factual_consistency (each the head's raw output, about 1 = bad … 4 = real-video quality).",
    )
    combine: Combine = Field("mean", description="How the chosen aspects become one score: mean (1…4) or sum.")


class VideoScoreBase(EngineHost[Engine]):
    """Loading (:class:`~f2g_torch_utils.engines.EngineHost` with this plugin's engine) and scoring shared by the
    reward and the metric."""

    engine_class = Engine
    options: VideoScoreModelOptions

    def dimensions_of(self, clips: Sequence[np.ndarray], prompt: str) -> np.ndarray:
        """(n, 5) raw outputs of uint8 clips, in :data:`DIMENSIONS` order."""
        return self.engine.raw(clips, [prompt] * len(clips))


class VideoScore(VideoScoreBase, ClipReward[Engine]):
    """VideoScore-v1.1 (Idefics2-8B regression): the mean (or sum) of the chosen aspects of the clip."""

    name = "videoscore"
    Options = VideoScoreOptions
    traced_options = ("dimensions", "combine")

    options: VideoScoreOptions

    def reference_frames(self, batch: RewardBatch) -> tuple[list[int], str]:
        return frame_indices(batch.num_frames, self.options.max_frames), ""

    def combined(self, clips: list[np.ndarray], prompt: str) -> np.ndarray:
        """The score of each clip: the mean (or sum) of the chosen aspects."""
        chosen = self.dimensions_of(clips, prompt)[:, [DIMENSIONS.index(d) for d in self.options.dimensions]]
        return chosen.mean(axis=1) if self.options.combine == "mean" else chosen.sum(axis=1)


class VideoScoreMetric(VideoScoreBase, Metric):
    """VideoScore-v1.1's five aspects of the finished video and their mean, frames sampled as the reference."""

    name = "videoscore"
    dimensions = (*DIMENSIONS, "mean")
    related_rewards = ("videoscore",)
    Options = VideoScoreModelOptions

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        clip = finite_clip(video, partial(frame_indices, max_frames=self.options.max_frames))
        if clip is None:
            return {d: math.nan for d in self.dimensions}
        values = self.dimensions_of([clip], item.prompt)[0]
        return {**dict(zip(DIMENSIONS, map(float, values), strict=True)), "mean": float(values.mean())}
