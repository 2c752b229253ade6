"""f2g's reward contract (f2g_core.contracts) on ``videoscore`` with the seeded miniature (``model: tiny``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import f2g_plugin_videoscore.plugin as plugin
import pytest
from f2g_plugin_videoscore.reward import VideoScore

from f2g_core.contracts import RewardContract


class TestVideoScoreContract(RewardContract):
    plugin = plugin
    component_id = "videoscore"
    options: ClassVar[dict[str, Any]] = {"model": "tiny", "device": "cpu"}

    @pytest.fixture(scope="class")
    @classmethod
    def component(cls) -> Iterator[VideoScore]:
        reward = VideoScore(VideoScore.Options(**cls.options))
        reward.load()
        yield reward
        reward.close()
