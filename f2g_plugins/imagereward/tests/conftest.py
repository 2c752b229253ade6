"""Fixtures: a tiny ImageReward checkpoint, med_config and tokenizer built offline from ``testing``'s seeds."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup would otherwise retry for ~45 s before failing

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class TinyFiles:
    checkpoint: Path
    med_config: Path
    tokenizer: Path


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory: pytest.TempPathFactory) -> TinyFiles:
    """The golden script's seeded weights, rebuilt from our port's own parameter list and saved as a file."""
    from f2g_plugin_imagereward.blip import TextConfig, VisionConfig
    from f2g_plugin_imagereward.model import ImageRewardModel
    from f2g_plugin_imagereward.testing import (
        TINY_MED_CONFIG,
        TINY_VISION,
        seeded_state,
        write_med_config,
        write_tokenizer,
    )
    from f2g_torch_utils.checkpoints import save_state_dict

    root = tmp_path_factory.mktemp("imagereward")
    vision = VisionConfig(**TINY_VISION)
    model = ImageRewardModel(vision, TextConfig.from_dict(TINY_MED_CONFIG, encoder_width=vision.width))
    checkpoint = save_state_dict(seeded_state(model.state_dict(), seed=0), root / "ImageReward.pt")
    return TinyFiles(checkpoint, write_med_config(root / "med_config.json"), write_tokenizer(root / "tokenizer"))
