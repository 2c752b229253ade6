"""Fixtures: the golden folder written by the reference (the tiny model and its scores) and a reward loading it."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup would otherwise retry for ~45 s before failing

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).with_name("golden")


@pytest.fixture(scope="session")
def golden() -> dict[str, Any]:
    """The reference's outputs and preprocessing facts (``scripts/make_golden.py``)."""
    return dict(json.loads((GOLDEN / "golden_videoscore.json").read_text()))


@pytest.fixture(scope="session")
def golden_model() -> Path:
    """The tiny model folder the reference saved (the layout of ``TIGER-Lab/VideoScore-v1.1``)."""
    return GOLDEN / "model"


@pytest.fixture(scope="session")
def published(golden_model: Path) -> Iterator[Any]:
    """The reward loaded from the reference-written folder."""
    from f2g_plugin_videoscore.reward import VideoScore

    reward = VideoScore(VideoScore.Options(model=str(golden_model), device="cpu"))
    reward.load()
    yield reward
    reward.close()
