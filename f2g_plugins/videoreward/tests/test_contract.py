"""f2g's reward and metric contracts (f2g_core.contracts) on ``videoreward`` with the
seeded miniature (``model: tiny``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import f2g_plugin_videoreward.plugin as plugin
import pytest
from f2g_plugin_videoreward.reward import VideoReward

from f2g_core.contracts import MetricContract, RewardContract


class TestVideoRewardContract(RewardContract):
    plugin = plugin
    component_id = "videoreward"
    options: ClassVar[dict[str, Any]] = {"model": "tiny", "fps": 8.0, "device": "cpu"}

    @pytest.fixture(scope="class")
    @classmethod
    def component(cls) -> Iterator[VideoReward]:
        reward = VideoReward(VideoReward.Options(**cls.options))
        reward.load()
        yield reward
        reward.close()


class TestVideoRewardMetricContract(MetricContract):
    plugin = plugin
    component_id = "videoreward"
    options: ClassVar[dict[str, Any]] = {"model": "tiny", "fps": 8.0, "device": "cpu"}
