"""f2g's reward contract (f2g_core.contracts) on the ``clip`` and ``hps`` rewards with tiny offline models
(``pickscore``'s contract is in test_presets.py, next to its tiny model)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import f2g_plugin_clip.plugin as plugin
import pytest
import torch
from f2g_plugin_clip import ClipReward, HPSReward

from f2g_core.contracts import RewardContract


class TestClipContract(RewardContract):
    plugin = plugin
    component_id = "clip"

    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_clip: str, tiny_checkpoint: Path) -> Iterator[ClipReward]:
        reward = ClipReward(ClipReward.Options(model=tiny_clip, pretrained=str(tiny_checkpoint), device="cpu"))
        reward.load()
        yield reward
        reward.close()


class TestHPSContract(RewardContract):
    plugin = plugin
    component_id = "hps"

    @pytest.fixture(scope="class")
    @classmethod
    def component(
        cls, tiny_clip: str, tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[HPSReward]:
        path = tmp_path_factory.mktemp("hps-contract") / "HPS_tiny.pt"
        torch.save({"state_dict": torch.load(tiny_checkpoint)}, path)  # HPSv2's published layout
        reward = HPSReward(HPSReward.Options(model=tiny_clip, checkpoint=str(path), device="cpu"))
        reward.load()
        yield reward
        reward.close()
