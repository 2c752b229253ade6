"""f2g's reward contract (f2g_core.contracts) on ``transformers-vlm`` with tiny random LLaVA and Qwen2.5-VL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import f2g_plugin_transformers_vlm.plugin as plugin
import pytest
from f2g_plugin_transformers_vlm import TransformersVLMReward
from f2g_plugin_transformers_vlm.rubric import VideoScore2Reward

from f2g_core.contracts import RewardContract


class TestTransformersVLMContract(RewardContract):
    plugin = plugin
    component_id = "transformers-vlm"

    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_vlm_dir: Path) -> Iterator[TransformersVLMReward]:
        reward = TransformersVLMReward(TransformersVLMReward.Options(model=str(tiny_vlm_dir), local_files_only=True))
        reward.load()
        yield reward
        reward.close()


class TestVideoScore2Contract(RewardContract):
    plugin = plugin
    component_id = "videoscore2"

    @pytest.fixture(scope="class")
    @classmethod
    def component(cls) -> Iterator[VideoScore2Reward]:
        reward = VideoScore2Reward(VideoScore2Reward.Options(model="tiny", device="cpu", fps=8.0))
        reward.load()
        yield reward
        reward.close()
