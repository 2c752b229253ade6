"""The ``videoscore`` reward and metric: VideoScore-v1.1 scores a video on five aspects with Idefics2-8B and a
regression head, exactly as its reference code does.

The reward sees the key frames of a guided step; the reference scores every frame of a video of up to 48 frames
(else 48 evenly spaced ones), so when the key frames do not include the frames the reference would take, the
nearest ones stand in and a warning names the key frames to configure. No frame rate is involved. The metric
(``f2g eval --metric videoscore``) sees the whole finished video and reports each aspect and their mean as columns.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from f2g_torch_utils.devices import resolve_device, resolve_dtype
from f2g_torch_utils.frames import TorchRewardOptions, finite_candidates
from pydantic import Field

from f2g_core.evaluation import Metric, SuiteItem
from f2g_core.interfaces import Reward, RewardBatch
from f2g_plugin_videoscore.engine import DIMENSIONS, Dimension, Engine
from f2g_plugin_videoscore.preprocess import MAX_FRAMES, frame_indices, nearest

log = logging.getLogger("f2g.videoscore")

Combine = Literal["mean", "sum"]


class VideoScoreModelOptions(TorchRewardOptions):
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
    attn_implementation: Literal["sdpa", "eager"] = Field("sdpa", description="Attention kernel of the network.")
    seed: int = Field(0, ge=0, description="Seed of the random weights of model: tiny.")
    cache_dir: str | None = Field(None, description="Hugging Face cache folder for downloads.")


class VideoScoreOptions(VideoScoreModelOptions):
    dimensions: list[Dimension] = Field(
        default_factory=lambda: list(DIMENSIONS),
        min_length=1,
        description="Aspects combined into the score: visual_quality, temporal_consistency, dynamic_degree, "
        "text_alignment, factual_consistency (each the head's raw output, about 1 = bad … 4 = real-video quality).",
    )
    combine: Combine = Field("mean", description="How the chosen aspects become one score: mean (1…4) or sum.")


class VideoScoreBase:
    """Loading and scoring shared by the reward and the metric."""

    options: VideoScoreModelOptions
    _engine: Engine | None

    def load(self) -> None:
        if self._engine is not None:
            return
        from f2g_torch_utils.compat import ensure_torchvision

        ensure_torchvision()  # before transformers imports torchvision
        o = self.options
        device = resolve_device(o.device)
        dtype = resolve_dtype(o.dtype, device)
        if o.model == "tiny":
            self._engine = Engine.tiny(o.seed, device, dtype, o.batch_size, o.frames_per_pass)
        else:
            self._engine = Engine.published(o, device, dtype)
        log.info("videoscore: loaded %s on %s (%s)", self._engine.settings.source, device, dtype)

    def close(self) -> None:
        self._engine = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self.load()
        assert self._engine is not None
        return self._engine

    def dimensions_of(self, clips: Sequence[np.ndarray], prompt: str) -> np.ndarray:
        """(n, 5) raw outputs of uint8 clips, in :data:`DIMENSIONS` order."""
        return self.engine.raw(clips, [prompt] * len(clips))


class VideoScore(VideoScoreBase, Reward):
    """VideoScore-v1.1 (Idefics2-8B regression): the mean (or sum) of the chosen aspects of the clip."""

    name = "videoscore"
    Options = VideoScoreOptions

    options: VideoScoreOptions

    def __init__(self, options: VideoScoreOptions | None = None) -> None:
        super().__init__(options)
        self._engine = None
        self._warned: set[tuple[tuple[int, ...], int]] = set()
        self._usage = {"calls": 0.0, "candidates": 0.0}

    def frames_for(self, batch: RewardBatch) -> list[int]:
        """Positions in the batch's key frames of the frames to score (the reference's, or the nearest ones)."""
        wanted = frame_indices(batch.num_frames, self.options.max_frames)
        positions = nearest(batch.frame_indices, wanted)
        key = (tuple(batch.frame_indices), batch.num_frames)
        if [batch.frame_indices[p] for p in positions] != wanted and key not in self._warned:
            self._warned.add(key)
            log.warning(
                "videoscore: for a %d-frame video the reference scores frames %s; the key frames %s stand in with "
                "the nearest ones (set guidance.key_frames to %s for faithful scores)",
                batch.num_frames,
                wanted,
                list(batch.frame_indices),
                wanted,
            )
        return positions

    def score(self, batch: RewardBatch) -> list[float]:
        positions = self.frames_for(batch)
        ok = np.flatnonzero(finite_candidates(batch.frames))
        out = np.full(len(batch), math.nan)
        if len(ok):
            with np.errstate(invalid="ignore"):  # the non-finite candidates' frames, left out below
                clips = batch.uint8()[ok][:, positions]
            values = self.dimensions_of(list(clips), batch.prompt)
            chosen = values[:, [DIMENSIONS.index(d) for d in self.options.dimensions]]
            out[ok] = chosen.mean(axis=1) if self.options.combine == "mean" else chosen.sum(axis=1)
        self._usage["calls"] += 1
        self._usage["candidates"] += len(ok)
        return [float(v) for v in out]

    def usage(self) -> Mapping[str, float]:
        return dict(self._usage)

    def trace_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "model": self.options.model,
            "dimensions": list(self.options.dimensions),
            "combine": self.options.combine,
        }
        if self._engine is not None:
            info["checkpoint"] = self._engine.settings.source
        return info


class VideoScoreMetric(VideoScoreBase, Metric):
    """VideoScore-v1.1's five aspects of the finished video and their mean, frames sampled as the reference."""

    name = "videoscore"
    dimensions = (*DIMENSIONS, "mean")
    related_rewards = ("videoscore",)
    Options = VideoScoreModelOptions

    def __init__(self, options: VideoScoreModelOptions | None = None) -> None:
        super().__init__(options)
        self._engine = None

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        frames = np.asarray(video)
        if not np.isfinite(frames).all():
            return {d: math.nan for d in self.dimensions}
        wanted = frame_indices(frames.shape[0], self.options.max_frames)
        clip = np.clip(np.rint(frames[wanted] * 255.0), 0, 255).astype(np.uint8)
        values = self.dimensions_of([clip], item.prompt)[0]
        return {**dict(zip(DIMENSIONS, map(float, values), strict=True)), "mean": float(values.mean())}
