"""f2g's reward contract (f2g_core.contracts) on ``imagereward`` with the tiny offline checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import f2g_plugin_imagereward.plugin as plugin
import pytest
from f2g_plugin_imagereward import ImageRewardReward
from f2g_plugin_imagereward.testing import TINY_VISION

from f2g_core.contracts import RewardContract


class TestImageRewardContract(RewardContract):
    plugin = plugin
    component_id = "imagereward"

    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_files: Any) -> Iterator[ImageRewardReward]:
        options = ImageRewardReward.Options(
            checkpoint=str(tiny_files.checkpoint),
            med_config=str(tiny_files.med_config),
            tokenizer=str(tiny_files.tokenizer),
            vision_heads=TINY_VISION["heads"],
            device="cpu",
        )
        reward = ImageRewardReward(options)
        reward.load()
        yield reward
        reward.close()
