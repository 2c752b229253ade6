"""The ``videoscore`` reward and metric: dimensions and how they combine, key frames, NaN, loading errors."""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from f2g_plugin_videoscore.reward import VideoScore, VideoScoreMetric
from f2g_plugin_videoscore.testing import PROMPTS, RUNS, VIDEOS, make_frames

from f2g_core.errors import ComponentError
from f2g_core.evaluation import SuiteItem
from f2g_core.interfaces import RewardBatch, StepInfo

VIDEO, PROMPT = RUNS[0]  # 16 frames of 64 × 64: the reference scores all of them
SPEC = VIDEOS[VIDEO]


def batch(indices: tuple[int, ...] = tuple(range(16)), n: int = 2) -> RewardBatch:
    frames = make_frames(SPEC).astype(np.float32) / 255
    clip = np.stack([frames[list(indices)]] * n)
    clip[1:] = clip[1:, :, ::-1]  # other candidates: the frames flipped upside down
    return RewardBatch(PROMPTS[PROMPT], clip, indices, SPEC.frames, StepInfo(0, 50, 999.0))


@pytest.fixture(scope="module")
def tiny() -> Any:
    reward = VideoScore(VideoScore.Options(model="tiny", device="cpu"))
    reward.load()
    return reward


def with_engine(source: Any, **options: Any) -> VideoScore:
    """A reward with other options sharing ``source``'s loaded network."""
    reward = VideoScore(VideoScore.Options(model=source.options.model, device="cpu", **options))
    reward._engine = source._engine
    return reward


def test_the_reward_combines_the_chosen_dimensions(published: Any, golden: dict[str, Any]) -> None:
    raw = np.array(golden["results"][0]["raw"])
    assert published.score(batch(n=1))[0] == pytest.approx(raw.mean(), abs=1e-5)
    summed = with_engine(published, combine="sum", dimensions=["visual_quality", "text_alignment"])
    assert summed.score(batch(n=1))[0] == pytest.approx(raw[0] + raw[3], abs=1e-5)


def test_candidates_differ_and_other_key_frames_warn(tiny: Any, caplog: pytest.LogCaptureFixture) -> None:
    exact = tiny.score(batch())
    assert exact[0] != exact[1]  # the flipped candidate scores otherwise
    with caplog.at_level(logging.WARNING, logger="f2g.videoscore"):
        stand_in = tiny.score(batch((0, 5, 10, 15)))
    assert stand_in != exact
    assert f"set guidance.key_frames to {list(range(16))}" in caplog.text


def test_non_finite_candidates_score_nan(tiny: Any) -> None:
    b = batch(n=3)
    frames = b.frames.copy()
    frames[1, 0, 0, 0, 0] = np.nan
    scores = tiny.score(RewardBatch(b.prompt, frames, b.frame_indices, b.num_frames, b.step))
    assert math.isnan(scores[1]) and math.isfinite(scores[0]) and math.isfinite(scores[2])


def test_a_prompt_with_image_tokens_is_refused(tiny: Any) -> None:
    b = batch(n=1)
    with pytest.raises(ComponentError, match="may not contain <image>"):
        tiny.score(RewardBatch("a <image> here", b.frames, b.frame_indices, b.num_frames, b.step))


def test_the_metric_reports_every_dimension_of_the_whole_video(golden_model: Path, golden: dict[str, Any]) -> None:
    metric = VideoScoreMetric(VideoScoreMetric.Options(model=str(golden_model), device="cpu"))
    assert metric.columns()[0] == "videoscore.visual_quality" and metric.columns()[-1] == "videoscore.mean"
    video, prompt = RUNS[1]  # 100 frames: the metric samples 48 as the reference does
    values = metric.measure(SuiteItem(id="0", prompt=PROMPTS[prompt]), make_frames(VIDEOS[video]) / 255.0)
    expected = golden["results"][1]["raw"]
    assert [values[d] for d in metric.dimensions[:5]] == pytest.approx(expected, abs=1e-5)
    assert values["mean"] == pytest.approx(float(np.mean(expected)), abs=1e-5)


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    reward = VideoScore(VideoScore.Options(model=str(tmp_path / "nowhere"), device="cpu"))
    with pytest.raises(ComponentError, match="does not exist"):
        reward.load()


def test_a_folder_without_weights_is_named(tmp_path: Path, golden_model: Path) -> None:
    shutil.copytree(golden_model, tmp_path / "model", ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(ComponentError, match=r"no \*\.safetensors weights"):
        VideoScore(VideoScore.Options(model=str(tmp_path / "model"), device="cpu")).load()


def test_a_checkpoint_of_another_shape_is_refused(tmp_path: Path, golden_model: Path) -> None:
    shutil.copytree(golden_model, tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    config["id2label"] = {str(i): f"LABEL_{i}" for i in range(3)}  # a 3-output head
    config["label2id"] = {f"LABEL_{i}": i for i in range(3)}
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ComponentError, match=r"does not fit Idefics2 \+ 5-output regression head.*score\.weight"):
        VideoScore(VideoScore.Options(model=str(tmp_path / "model"), device="cpu")).load()


def test_a_folder_of_another_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    with pytest.raises(ComponentError, match="not an Idefics2 config"):
        VideoScore(VideoScore.Options(model=str(tmp_path), device="cpu")).load()
