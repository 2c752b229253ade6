"""Fixtures: tiny random CLIP-family models built offline (open_clip config registered at run time)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup would otherwise retry for ~45 s before failing

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The name of a tiny open_clip architecture registered for this session."""
    from f2g_plugin_clip.testing import register_tiny_open_clip

    return register_tiny_open_clip(tmp_path_factory.mktemp("open_clip_configs"))


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_clip: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeded random weights of the tiny architecture saved as a checkpoint file."""
    import open_clip
    import torch
    from f2g_torch_utils.checkpoints import save_state_dict

    torch.manual_seed(0)
    model = open_clip.create_model(tiny_clip)
    return save_state_dict(model.state_dict(), tmp_path_factory.mktemp("ckpt") / "tiny.pt")
