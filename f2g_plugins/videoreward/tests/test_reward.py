"""The ``videoreward`` reward and metric: frame rate handling, dimensions, normalisation, loading errors."""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from f2g_plugin_videoreward.reward import VideoReward, VideoRewardMetric
from f2g_plugin_videoreward.testing import VIDEOS, make_frames

from f2g_core.errors import ComponentError
from f2g_core.evaluation import SuiteItem
from f2g_core.interfaces import RewardBatch, StepInfo

SPEC = VIDEOS[0]  # 16 frames at 8 fps: the reference scores frames 0, 5, 10, 15


def batch(indices: tuple[int, ...] = (0, 5, 10, 15), fps: float | None = SPEC.fps, n: int = 2) -> RewardBatch:
    frames = make_frames(SPEC).astype(np.float32) / 255
    clip = np.stack([frames[list(indices)]] * n)
    clip[1:] = clip[1:, :, ::-1]  # other candidates: the frames flipped upside down
    return RewardBatch("a red circle moving left", clip, indices, SPEC.frames, StepInfo(0, 50, 999.0), fps=fps)


@pytest.fixture(scope="module")
def tiny() -> Any:
    reward = VideoReward(VideoReward.Options(model="tiny", device="cpu"))
    reward.load()
    return reward


Options = Callable[..., dict[str, Any]]


def test_the_reward_is_the_sum_of_the_normalised_dimensions(golden: dict[str, Any], published: Options) -> None:
    reward = VideoReward(VideoReward.Options(**published("full")))
    scores = reward.score(batch(n=1))
    assert scores[0] == pytest.approx(golden["full"]["single"][0]["normalised"][0]["Overall"], abs=3e-4)
    only_motion = VideoReward(VideoReward.Options(**published("full", dimensions=["MQ"], normalize=False)))
    assert only_motion.score(batch(n=1))[0] == pytest.approx(golden["full"]["single"][0]["raw"][0]["MQ"], abs=1e-4)


def test_the_backbones_frame_rate_wins_over_the_option(tiny: Any) -> None:
    every = tuple(range(16))
    at_8 = tiny.score(batch(every, fps=8.0))
    at_4 = tiny.score(batch(every, fps=4.0))  # 8 frames instead of 4: another clip, another score
    assert not np.allclose(at_4, at_8)
    with_option = VideoReward(VideoReward.Options(model="tiny", device="cpu", fps=4.0))
    with_option._engine = tiny._engine
    assert with_option.score(batch(every, fps=8.0)) == at_8
    assert with_option.score(batch(every, fps=None)) == at_4


def test_an_unknown_frame_rate_is_an_error_not_a_guess(tiny: Any) -> None:
    with pytest.raises(ComponentError, match=r"frame rate .* unknown.*options\.fps"):
        tiny.score(batch(fps=None))


def test_other_key_frames_stand_in_with_a_warning(tiny: Any, caplog: pytest.LogCaptureFixture) -> None:
    exact = tiny.score(batch((0, 5, 10, 15)))
    assert tiny.score(batch((0, 3, 5, 8, 10, 12, 15))) == exact  # a superset holds the reference's frames
    with caplog.at_level(logging.WARNING, logger="f2g.videoreward"):
        shifted = tiny.score(batch((0, 4, 9, 15)))
    assert shifted != exact
    assert "set guidance.key_frames to [0, 5, 10, 15]" in caplog.text


def test_non_finite_candidates_score_nan(tiny: Any) -> None:
    b = batch(n=3)
    frames = b.frames.copy()
    frames[1, 0, 0, 0, 0] = np.nan
    scores = tiny.score(RewardBatch(b.prompt, frames, b.frame_indices, b.num_frames, b.step, fps=b.fps))
    assert math.isnan(scores[1]) and math.isfinite(scores[0]) and math.isfinite(scores[2])


def test_the_metric_reports_every_dimension_of_the_whole_video(golden: dict[str, Any], published: Options) -> None:
    metric = VideoRewardMetric(VideoRewardMetric.Options(**published("full")))
    assert metric.columns() == ["videoreward.VQ", "videoreward.MQ", "videoreward.TA", "videoreward.overall"]
    video = make_frames(SPEC).astype(np.float32) / 255
    values = metric.measure_video(SuiteItem(id="0", prompt=golden["prompts"][0]), video, SPEC.fps)
    expected = golden["full"]["single"][0]["normalised"][0]
    for dimension in ("VQ", "MQ", "TA"):
        assert values[dimension] == pytest.approx(expected[dimension], abs=1e-3)
    assert values["overall"] == pytest.approx(expected["Overall"], abs=3e-3)
    with pytest.raises(ComponentError, match="frame rate"):
        metric.measure(SuiteItem(id="0", prompt="p"), video)


def test_a_missing_lora_part_names_the_layouts(tmp_path: Path, golden_dir: Path, published: Options) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(golden_dir / "lora", folder)
    (folder / "checkpoint-1" / "non_lora_state_dict.pth").unlink()
    reward = VideoReward(VideoReward.Options(**published("lora", model=str(folder))))
    with pytest.raises(ComponentError, match=r"neither model\.pth nor adapter_model\.safetensors"):
        reward.load()


def test_a_wrong_base_is_named(tmp_path: Path, published: Options) -> None:
    reward = VideoReward(VideoReward.Options(**published("full", base_model=str(tmp_path / "nowhere"))))
    with pytest.raises(ComponentError, match="does not exist"):
        reward.load()


def test_unsupported_checkpoint_settings_are_refused(tmp_path: Path, golden_dir: Path, published: Options) -> None:
    import json

    folder = tmp_path / "other"
    shutil.copytree(golden_dir / "full", folder)
    config = json.loads((folder / "model_config.json").read_text())
    config["data_config"]["prompt_template_type"] = "simple"
    (folder / "model_config.json").write_text(json.dumps(config))
    reward = VideoReward(VideoReward.Options(**published("full", model=str(folder))))
    with pytest.raises(ComponentError, match="prompt_template_type='simple'"):
        reward.load()


def test_a_base_whose_tokenizer_lacks_the_chat_template_uses_the_processors(
    tmp_path: Path, golden_dir: Path, golden: dict[str, Any], published: Options
) -> None:
    import json

    base = tmp_path / "base"
    shutil.copytree(golden_dir / "base", base)
    settings = json.loads((base / "tokenizer_config.json").read_text())
    del settings["chat_template"]
    (base / "tokenizer_config.json").write_text(json.dumps(settings))
    reward = VideoReward(VideoReward.Options(**published("full", base_model=str(base), normalize=False)))
    assert reward.score(batch(n=1))[0] == pytest.approx(golden["full"]["single"][0]["raw"][0]["Overall"], abs=3e-4)
    (base / "chat_template.json").unlink()
    with pytest.raises(ComponentError, match="has no chat template"):
        VideoReward(VideoReward.Options(**published("full", base_model=str(base)))).load()
