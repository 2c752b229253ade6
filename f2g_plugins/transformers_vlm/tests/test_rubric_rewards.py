"""``videoscore2`` and ``unifiedreward`` in-process on seeded random miniatures (``model: tiny``)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from f2g_lvlm.rubrics import RUBRICS
from f2g_plugin_transformers_vlm.rubric import RubricReward, UnifiedRewardReward, VideoScore2Reward
from f2g_torch_utils.frames import frame_indices

from f2g_core.errors import ComponentError, ConfigError
from f2g_core.interfaces import RewardBatch, StepInfo


def batch_of(n: int = 2, frames: int = 16, fps: float | None = 8.0, keys: tuple[int, ...] | None = None) -> RewardBatch:
    rng = np.random.default_rng(0)
    keys = keys if keys is not None else tuple(range(frames))
    return RewardBatch(
        prompt="a red circle moving left",
        frames=rng.random((n, len(keys), 32, 32, 3), dtype=np.float32),
        frame_indices=keys,
        num_frames=frames,
        step=StepInfo(index=0, num_steps=4, timestep=900.0),
        fps=fps,
    )


def tiny(cls: type[RubricReward], **options: Any) -> RubricReward:
    reward = cls(cls.Options(model="tiny", device="cpu", **options))
    reward.load()
    return reward


def next_token_expectation(reward: RubricReward, batch: RewardBatch, row: int, answer: str) -> tuple[float, int]:
    """E[digit] and the most probable digit after ``answer``, from one forward pass of the chat as it stands."""
    import torch

    assert reward.vlm is not None
    positions, wanted = reward.frames_for(batch)
    text = reward.chat_text(batch.prompt, len(positions)) + answer
    inputs = reward.vlm.processor(
        text=[text], return_tensors="pt", **reward._media(batch.uint8(), [row], positions, wanted, batch)
    )
    with torch.inference_mode():
        logits = reward.vlm.model(**inputs).logits[0, -1].float()
    ids = [reward.vlm.processor.tokenizer.convert_tokens_to_ids(d) for d in "12345"]
    probs = torch.softmax(logits[ids].double(), dim=0)
    return float((probs * torch.arange(1, 6, dtype=torch.float64)).sum()), int(probs.argmax()) + 1


def test_videoscore2_reads_each_score_after_its_label_with_the_earlier_digits_greedy() -> None:
    reward = tiny(VideoScore2Reward)
    batch = batch_of(n=2, fps=8.0)
    scores = reward.score(batch)
    dims = reward.last_dimensions
    assert dims is not None and dims.shape == (2, 3)
    np.testing.assert_allclose(scores, dims.mean(axis=1))
    rubric = RUBRICS["videoscore2"]
    for row in range(2):
        digits: list[str] = []
        for field in range(3):
            expected, best = next_token_expectation(reward, batch, row, rubric.answer(digits))
            assert dims[row, field] == pytest.approx(expected, abs=1e-5)
            digits.append(str(best))
    assert scores[0] != scores[1]  # each candidate's own video reached the model
    text = reward.chat_text(batch.prompt, 4)
    assert rubric.text(batch.prompt) in text and text.count("<|video_pad|>") == 1
    assert reward.usage()["calls"] == 4  # the video once, then one continuation per score, both candidates together


@pytest.mark.numerics
@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
@pytest.mark.parametrize("cls", [VideoScore2Reward, UnifiedRewardReward])
def test_shared_prefix_scores_equal_whole_passes(cls: type[RubricReward], family: str) -> None:
    """Each score read as a continuation of the cached video and prompt equals a whole forward pass's (the same
    greedy digits, the same expectations up to float rounding)."""
    batch = batch_of(n=3)
    dims = {}
    for share in (True, False):
        reward = tiny(cls, tiny_family=family, batch_size=2, share_prefix=share)
        reward.score(batch)
        dims[share] = reward.last_dimensions
        assert reward.usage()["calls"] == (2 * 4 if share else 2 * 3)  # two chunks: prefix + 3 scores, or 3 wholes
    np.testing.assert_allclose(dims[True], dims[False], rtol=0, atol=1e-5)
    assert np.ptp(dims[False], axis=0).max() > 1e-3  # the candidates' videos differ


def test_videoscore2_shows_frames_at_two_per_second_of_the_real_rate() -> None:
    reward = VideoScore2Reward(VideoScore2Reward.Options(model="tiny"))
    for fps in (2.0, 8.0, 16.0):
        positions, wanted = reward.frames_for(batch_of(fps=fps))
        assert wanted == frame_indices(16, fps, 2.0) and positions == wanted
    assert reward.frames_for(batch_of(fps=2.0))[1] == list(range(16))
    with pytest.raises(ComponentError, match=r"set the reward's options\.fps"):
        reward.frames_for(batch_of(fps=None))
    stand_in = VideoScore2Reward(VideoScore2Reward.Options(model="tiny", fps=2.0))
    assert stand_in.frames_for(batch_of(fps=None, keys=(0, 5, 10, 15)))[0] == [0] * 3 + [1] * 5 + [2] * 5 + [3] * 3


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_unifiedreward_scores_16_frames_on_both_families(family: str) -> None:
    reward = tiny(UnifiedRewardReward, tiny_family=family)
    assert type(reward.vlm.model).__name__.startswith("Qwen3VL" if family == "qwen3-vl" else "Qwen2_5_VL")  # type: ignore[union-attr]
    batch = batch_of(n=2)
    scores = reward.score(batch)
    dims = reward.last_dimensions
    assert dims is not None and np.all((dims >= 1) & (dims <= 5)) and scores[0] != scores[1]
    text = reward.chat_text(batch.prompt, 16)
    assert text.count("<|image_pad|>") == 16 and text.endswith("<|im_start|>assistant\n")
    physics = tiny(UnifiedRewardReward, tiny_family=family, dimensions=["physics"])
    assert physics.score(batch) == pytest.approx(list(dims[:, 1]), abs=1e-6)


def test_options_and_non_finite_frames() -> None:
    with pytest.raises(ConfigError, match="unknown dimension"):
        UnifiedRewardReward(UnifiedRewardReward.Options(dimensions=["beauty"]))
    assert VideoScore2Reward().options.model == "TIGER-Lab/VideoScore2"
    assert UnifiedRewardReward().options.model == "CodeGoat24/UnifiedReward-2.0-qwen3vl-8b"
    reward = tiny(UnifiedRewardReward)
    batch = batch_of(n=2)
    batch.frames[0, 3, 0, 0, 0] = np.nan
    scores = reward.score(batch)
    assert math.isnan(scores[0]) and 1 <= scores[1] <= 5 and reward.usage()["nan_scores"] == 1


def invoke(*args: str) -> str:
    from typer.testing import CliRunner

    from f2g_core.cli import app

    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return done.output


@pytest.mark.parametrize("reward", ["videoscore2", "unifiedreward"])
def test_f2g_generate_guides_with_the_rubric(tmp_path: Path, reward: str) -> None:
    pytest.importorskip("f2g_plugin_shapes", reason="the shapes world is the offline backbone")
    invoke(
        "generate", "a red circle moving left", "-r", reward, "--set", "rewards.0.options.model=tiny",
        "--set", "rewards.0.options.device=cpu", "--method", "free2guide", "-n", "2", "--steps", "4",
        "--guided-steps", "1",
        "--out", str(tmp_path),
    )  # fmt: skip
    (run,) = tmp_path.iterdir()
    trace = json.loads((run / "trace.json").read_text())
    scores = [s for step in trace["steps"] for s in step.get("scores", {}).get(reward, [])]
    assert len(scores) == 2 and all(s is not None and 1 <= s <= 5 for s in scores)


def test_f2g_eval_reports_each_dimension(tmp_path: Path) -> None:
    pytest.importorskip("f2g_plugin_shapes", reason="the shapes world is the offline backbone")
    suite, config, out = tmp_path / "suite.txt", tmp_path / "base.yaml", tmp_path / "out"
    suite.write_text("a red circle moving left\n")
    config.write_text("backbone: {type: shapes}\nsampler: {num_steps: 4}\nguidance: {method: none}\n")
    invoke(
        "eval", str(suite), "-c", str(config), "--metric", "videoscore2:model=tiny,device=cpu",
        "--metric", "unifiedreward:model=tiny,device=cpu", "--out", str(out),
    )  # fmt: skip
    with (out / "results.csv").open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    for name in ("videoscore2", "unifiedreward"):
        values = [float(row[f"{name}.{d}"]) for d in RUBRICS[name].dimensions]
        assert all(1 <= v <= 5 for v in values)
        assert float(row[f"{name}.overall"]) == pytest.approx(sum(values) / 3, abs=1e-6)


def test_f2g_list_rewards_shows_the_templates() -> None:
    listed = json.loads(invoke("list", "rewards", "--json"))
    ids = {entry["name"] for entry in listed}
    assert {"videoscore2", "unifiedreward", "unifiedreward-openai", "checklist"} <= ids
