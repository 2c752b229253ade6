"""The ``videoreward`` reward and metric: VideoReward (VideoAlign) scores a video's visual quality, motion and
text alignment with Qwen2-VL-2B and a linear head, exactly as its reference code does.

The reward sees the key frames of a guided step; the reference samples 2 frames per second of the video at its real
frame rate, so the rate must be known (:attr:`RewardBatch.fps`, reported by the backbone, or ``options.fps``) and is
never guessed. When the key frames do not include the frames the reference would take, the nearest ones stand in
and a warning names the key frames to configure. The metric (``f2g eval --metric videoreward``) sees the whole
finished video and reports VQ, MQ, TA and their sum as columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from f2g_torch_utils.engines import EngineHost, ModelFolderOptions
from f2g_torch_utils.video_rewards import ClipReward, finite_clip
from pydantic import Field

from f2g_core.errors import ComponentError
from f2g_core.evaluation import Metric, SuiteItem
from f2g_core.interfaces import RewardBatch
from f2g_plugin_videoreward.engine import DIMENSIONS, Engine
from f2g_plugin_videoreward.preprocess import frame_indices

Dimension = Literal["VQ", "MQ", "TA"]
EVERY_DIMENSION: tuple[Dimension, ...] = ("VQ", "MQ", "TA")


class VideoRewardModelOptions(ModelFolderOptions):
    """Which VideoReward, where it runs, and how its outputs are scaled (shared by the reward and the metric)."""

    model: str = Field(
        "KlingTeam/VideoReward",
        description="Hub repo or local folder of a VideoReward checkpoint (model_config.json and "
        "checkpoint-<step>/), or 'tiny': a seeded random miniature built offline for tests and demos.",
    )
    base_model: str | None = Field(
        None,
        description="Hub repo or folder of the Qwen2-VL base (config and tokenizer; also its weights for the LoRA "
        "layout). None: model_config.json's model_name_or_path (Qwen/Qwen2-VL-2B-Instruct).",
    )
    checkpoint_step: int | None = Field(None, ge=0, description="Which checkpoint-<step> to load; None: the latest.")
    normalize: bool = Field(
        True,
        description="Report (raw − mean) / std per dimension with the checkpoint's published statistics, as the "
        "reference does by default; False: the head's raw outputs.",
    )
    fps: float | None = Field(
        None,
        gt=0,
        description="Frame rate of the scored videos, for backbones that do not report theirs; a reported rate "
        "wins. The reference keeps 2 frames per second of the real rate, so a wrong rate changes the scores.",
    )
    max_pixels: int | None = Field(
        None, ge=28 * 28, description="Pixel budget per frame; None: the checkpoint's max_frame_pixels (448²)."
    )


class VideoRewardOptions(VideoRewardModelOptions):
    dimensions: list[Dimension] = Field(
        default_factory=lambda: list(EVERY_DIMENSION),
        min_length=1,
        description="Dimensions summed into the score: VQ (visual quality), MQ (motion quality), TA (text "
        "alignment); all three is the reference's Overall.",
    )


class VideoRewardBase(EngineHost[Engine]):
    """Loading (:class:`~f2g_torch_utils.engines.EngineHost` with this plugin's engine) and scoring shared by the
    reward and the metric."""

    engine_class = Engine
    options: VideoRewardModelOptions

    def rate(self, reported: float | None) -> float:
        """The videos' frame rate: the reported one, else ``options.fps``; never a guess."""
        fps = reported if reported is not None else self.options.fps
        if fps is None:
            raise ComponentError(
                "videoreward: the frame rate of the videos is unknown (the backbone does not report one); set "
                "the backbone's options.fps (or the reward's) to the rate its videos are meant to play at"
            )
        return float(fps)

    def dimensions_of(self, clips: Sequence[np.ndarray], prompt: str) -> np.ndarray:
        """(n, 3) VQ, MQ, TA of uint8 clips, normalised when ``options.normalize``."""
        raw = self.engine.raw(clips, [prompt] * len(clips))
        return self.engine.normalise(raw) if self.options.normalize else raw


class VideoReward(VideoRewardBase, ClipReward[Engine]):
    """VideoReward (VideoAlign, Qwen2-VL-2B): visual quality + motion quality + text alignment of the clip."""

    name = "videoreward"
    Options = VideoRewardOptions
    traced_options = ("dimensions", "normalize")

    options: VideoRewardOptions

    def reference_frames(self, batch: RewardBatch) -> tuple[list[int], str]:
        fps = self.rate(batch.fps)
        return frame_indices(batch.num_frames, fps, self.engine.settings.sample_fps), f" at {fps:g} fps"

    def combined(self, clips: list[np.ndarray], prompt: str) -> np.ndarray:
        """The score of each clip: the sum of the chosen dimensions."""
        chosen = [DIMENSIONS.index(d) for d in self.options.dimensions]
        return self.dimensions_of(clips, prompt)[:, chosen].sum(axis=1)

    def trace_info(self) -> dict[str, Any]:
        info = super().trace_info()
        if self._engine is not None:
            info["sample_fps"] = self._engine.settings.sample_fps
        return info


class VideoRewardMetric(VideoRewardBase, Metric):
    """VideoReward's VQ, MQ, TA and overall (their sum) of the finished video, frames sampled as the reference."""

    name = "videoreward"
    dimensions = (*DIMENSIONS, "overall")
    related_rewards = ("videoreward",)
    Options = VideoRewardModelOptions

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        return self.measure_video(item, video, None)

    def measure_video(self, item: SuiteItem, video: np.ndarray, fps: float | None) -> Mapping[str, float | None]:
        clip = finite_clip(video, lambda total: frame_indices(total, self.rate(fps), self.engine.settings.sample_fps))
        if clip is None:
            return {d: math.nan for d in self.dimensions}
        values = self.dimensions_of([clip], item.prompt)[0]
        return {**dict(zip(DIMENSIONS, map(float, values), strict=True)), "overall": float(values.sum())}
