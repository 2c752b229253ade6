"""Our ImageReward port against golden values produced by the reference ``image-reward`` package.

``scripts/make_golden.py`` ran the reference (transformers 4.55, in its own environment) on seeded weights and
fixed inputs; here the same weights and inputs go through our port on the current stack. Tolerance: 1e-4.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from f2g_plugin_imagereward import ImageRewardReward
from f2g_plugin_imagereward.model import score_images, tokenize
from f2g_plugin_imagereward.testing import (
    PROMPTS,
    TINY_MED_CONFIG,
    TINY_VISION,
    batch_frames,
    image_digest,
    parity_images,
)
from PIL import Image

from f2g_core.interfaces import RewardBatch, StepInfo
from f2g_core.testing import assert_close_to_scale

pytestmark = pytest.mark.numerics
GOLDEN = json.loads((Path(__file__).parent / "golden_imagereward.json").read_text())
PARITY_ULPS = 4096


@pytest.fixture(scope="module")
def reward(tiny_files: Any) -> ImageRewardReward:
    options = ImageRewardReward.Options(
        checkpoint=str(tiny_files.checkpoint),
        med_config=str(tiny_files.med_config),
        tokenizer=str(tiny_files.tokenizer),
        vision_heads=TINY_VISION["heads"],
        device="cpu",
    )
    reward = ImageRewardReward(options)
    reward.load()
    return reward


def test_golden_file_describes_these_inputs() -> None:
    """If the shared fixtures drift, the golden values no longer apply: regenerate them with the script."""
    assert GOLDEN["prompts"] == PROMPTS
    assert GOLDEN["tiny_vision"] == TINY_VISION
    assert GOLDEN["tiny_med_config"] == TINY_MED_CONFIG
    assert GOLDEN["images_digest"] == image_digest(parity_images())
    frames = batch_frames()
    assert GOLDEN["batch_digest"] == image_digest([Image.fromarray(f) for f in frames.reshape(-1, *frames.shape[2:])])


@pytest.mark.parametrize("prompt", PROMPTS)
def test_tokenization_matches_reference(reward: ImageRewardReward, prompt: str) -> None:
    ids, mask = tokenize(reward._tokenizer, prompt)
    assert ids[0].tolist() == GOLDEN["token_ids"][prompt]
    assert mask.shape == (1, 35)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_scores_match_reference(reward: ImageRewardReward, prompt: str) -> None:
    assert reward._model is not None
    ours = score_images(reward._model, reward._tokenizer, prompt, parity_images())
    expected = GOLDEN["scores"][prompt]
    assert_close_to_scale(ours, expected, ulps=PARITY_ULPS, what="scores")
    single = score_images(reward._model, reward._tokenizer, prompt, parity_images()[:1])
    assert_close_to_scale(single[:1], [GOLDEN["single_image_scores"][prompt]], ulps=PARITY_ULPS, what="one image")


def test_scores_are_not_degenerate() -> None:
    """A parity check on constant outputs would prove nothing: the golden scores must spread out."""
    for prompt in PROMPTS:
        assert np.ptp(GOLDEN["scores"][prompt]) > 0.05
    assert np.ptp([np.mean(GOLDEN["scores"][p]) for p in PROMPTS]) > 0.05


@pytest.mark.parametrize("prompt", PROMPTS[:2])
def test_reward_on_a_batch_matches_reference(reward: ImageRewardReward, prompt: str) -> None:
    """Through the Reward interface: 3 candidates × 2 key frames, one forward, mean over frames."""
    frames = batch_frames().astype(np.float32) / 255.0
    batch = RewardBatch(prompt, frames, (0, 15), 16, StepInfo(index=0, num_steps=50, timestep=980.0))
    expected = np.asarray(GOLDEN["batch_scores"][prompt]).reshape(3, 2)
    assert_close_to_scale(reward.frame_scores(batch), expected, ulps=PARITY_ULPS, what="frame scores")
    assert_close_to_scale(reward.score(batch), expected.mean(axis=1), ulps=PARITY_ULPS, what="scores")
