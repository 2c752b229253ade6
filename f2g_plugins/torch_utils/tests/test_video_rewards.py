"""f2g_torch_utils.video_rewards, synthetic_videos and golden: rewards that read their reference's frames."""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from f2g_torch_utils.engines import ModelFolderOptions
from f2g_torch_utils.golden import start_golden_run, write_lossless_video
from f2g_torch_utils.synthetic_videos import VideoSpec, make_frames
from f2g_torch_utils.video_rewards import ClipReward, KeyFrameStandIn, finite_clip
from pydantic import Field

from f2g_core.interfaces import RewardBatch, StepInfo


@dataclass
class Settings:
    source: str


@dataclass
class MeanEngine:
    """Scores a clip by its mean pixel; counts the clips it saw."""

    settings: Settings
    seen: int = 0

    @classmethod
    def tiny(cls, options: Any, device: torch.device, dtype: torch.dtype) -> MeanEngine:
        return cls(Settings("tiny"))

    @classmethod
    def published(cls, options: Any, device: torch.device, dtype: torch.dtype) -> MeanEngine:
        return cls(Settings(options.model))


class MeanOptions(ModelFolderOptions):
    model: str = Field("tiny", description="Checkpoint or 'tiny'.")
    scale: list[float] = Field(default_factory=lambda: [1.0], description="Traced.")


class MeanReward(ClipReward[MeanEngine]):
    name: ClassVar[str] = "mean"
    Options = MeanOptions
    engine_class = MeanEngine
    traced_options = ("scale",)

    def reference_frames(self, batch: RewardBatch) -> tuple[list[int], str]:
        return list(range(0, batch.num_frames, 4)), " (every 4th)"

    def combined(self, clips: list[np.ndarray], prompt: str) -> np.ndarray:
        self.engine.seen += len(clips)
        return np.array([clip.mean() for clip in clips], dtype=np.float64)


def batch(indices: tuple[int, ...], n: int = 3, num_frames: int = 16) -> RewardBatch:
    frames = np.stack([np.full((len(indices), 4, 4, 3), (i + 1) / 10, dtype=np.float32) for i in range(n)])
    return RewardBatch("p", frames, indices, num_frames, StepInfo(0, 10, 1.0))


def test_non_finite_candidates_score_nan_and_are_not_scored() -> None:
    reward = MeanReward(MeanOptions())
    b = batch((0, 4, 8, 12))
    b.frames[1, 2, 0, 0, 0] = np.nan
    scores = reward.score(b)
    expected = np.rint(b.frames[[0, 2]] * 255.0).reshape(2, -1).mean(axis=1)  # every key frame, as uint8
    assert math.isnan(scores[1]) and [scores[0], scores[2]] == pytest.approx(expected.tolist())
    assert reward.engine.seen == 2 and reward.usage() == {"calls": 1.0, "candidates": 2.0}


def test_other_key_frames_stand_in_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    reward = MeanReward(MeanOptions())
    with caplog.at_level(logging.WARNING, logger="f2g.mean"):
        assert reward.frames_for(batch((0, 4, 8, 12))) == [0, 1, 2, 3]
        assert not caplog.records
        assert reward.frames_for(batch((0, 5, 10, 15))) == [0, 1, 2, 2]
        reward.frames_for(batch((0, 5, 10, 15)))
    (record,) = caplog.records
    assert record.getMessage() == (
        "mean: for a 16-frame video (every 4th) the reference scores frames [0, 4, 8, 12]; the key frames "
        "[0, 5, 10, 15] stand in with the nearest ones (set guidance.key_frames to [0, 4, 8, 12] for faithful scores)"
    )


def test_a_stand_in_warns_again_for_another_layout(caplog: pytest.LogCaptureFixture) -> None:
    stand_in = KeyFrameStandIn("mean")
    with caplog.at_level(logging.WARNING, logger="f2g.mean"):
        stand_in.positions(batch((0, 5)), [0, 4], " at 8 fps")
        stand_in.positions(batch((0, 5)), [0, 4], " at 16 fps")
    assert len(caplog.records) == 2


def test_trace_names_model_traced_options_and_checkpoint_once_loaded() -> None:
    reward = MeanReward(MeanOptions(scale=[2.0]))
    assert reward.trace_info() == {"model": "tiny", "scale": [2.0]}
    reward.load()
    assert reward.trace_info() == {"model": "tiny", "scale": [2.0], "checkpoint": "tiny"}


def test_finite_clip_takes_the_frames_rounded_or_none() -> None:
    video = np.linspace(0, 1, 6 * 2 * 2 * 3).reshape(6, 2, 2, 3)
    clip = finite_clip(video, lambda total: [0, total - 1])
    assert clip is not None and clip.dtype == np.uint8 and clip.shape == (2, 2, 2, 3)
    assert clip[-1].max() == 255 and clip[0, 0, 0, 0] == 0
    video[3, 0, 0, 0] = np.inf
    assert finite_clip(video, lambda total: [0]) is None


def test_synthetic_frames_are_exact_and_move() -> None:
    frames = make_frames(VideoSpec("v", 3, 20, 24))
    assert frames.shape == (3, 20, 24, 3) and frames.dtype == np.uint8
    assert frames[0, 0, 0].tolist() == [0, 0, 0] and frames[0, 0, 23, 0] == 255  # the red ramp spans the width
    assert frames[1, 0, 0].tolist() == [9, 5, 13]  # and the colours drift with time
    square = np.all(frames == (250, 240, 30), axis=-1)  # the 5-pixel square, rows 7..11, moving right by 8
    assert [np.flatnonzero(square[k].any(axis=0)).tolist() for k in range(3)] == [
        list(range(0, 5)),
        list(range(8, 13)),
        list(range(16, 21)),
    ]


def test_lossless_video_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("av")
    import av

    frames = make_frames(VideoSpec("v", 4, 16, 24))
    write_lossless_video(tmp_path / "v.avi", frames, fps=8.0)
    with av.open(str(tmp_path / "v.avi")) as container:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        rate = container.streams.video[0].average_rate
        assert rate is not None and float(rate) == 8.0
    assert np.array_equal(decoded, frames)


def test_a_golden_run_starts_from_the_plugins_files_by_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "plugin"
    module.mkdir()
    (module / "tiny.py").write_text("SIZE = 3\n")
    (module / "testing.py").write_text(
        "from f2g_torch_utils.synthetic_videos import PROMPTS, VideoSpec\nVIDEOS = (VideoSpec('v', 2, 4, 4),)\n"
    )
    out = tmp_path / "golden"
    out.mkdir()
    (out / "stale.json").write_text("{}")
    monkeypatch.setattr(sys, "argv", ["make_golden.py", "--reference", "ref", "--out", str(out)])
    run = start_golden_run("test", "org/ref", tmp_path, module, seed=0)
    assert run.reference == Path("ref") and run.out == out and list(out.iterdir()) == []
    assert run.tiny["SIZE"] == 3 and run.testing["VIDEOS"][0].fps == 8.0 and len(run.testing["PROMPTS"]) == 5
