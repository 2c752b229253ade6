"""Fixtures: a tiny ViCLIP checkpoint in the published layout (``{"model": state_dict}``), built offline."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup would otherwise retry for ~45 s before failing

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from f2g_plugin_viclip.model import TextConfig, ViCLIPModel, VisionConfig
    from f2g_plugin_viclip.testing import TINY_TEXT, TINY_VISION, seeded_state
    from f2g_torch_utils.checkpoints import save_state_dict

    model = ViCLIPModel(VisionConfig(**TINY_VISION), TextConfig(**TINY_TEXT))
    path = tmp_path_factory.mktemp("viclip") / "ViClip-tiny.pth"
    return save_state_dict(seeded_state(model.state_dict(), seed=0), path, nest_under="model")
