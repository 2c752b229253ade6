"""f2g's reward contract (f2g_core.contracts) on ``viclip`` with the tiny offline checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import f2g_plugin_viclip.plugin as plugin
import pytest
from f2g_plugin_viclip import ViCLIPReward

from f2g_core.contracts import RewardContract


class TestViCLIPContract(RewardContract):
    plugin = plugin
    component_id = "viclip"
    num_key_frames: ClassVar[int] = 8  # one 8-frame clip, as the model takes

    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_checkpoint: Path) -> Iterator[ViCLIPReward]:
        reward = ViCLIPReward(ViCLIPReward.Options(checkpoint=str(tiny_checkpoint), device="cpu"))
        reward.load()
        yield reward
        reward.close()
