"""Fixtures: the golden folder written by the reference (tiny base, both checkpoint layouts) and rewards on it."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup would otherwise retry for ~45 s before failing

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).with_name("golden")


@pytest.fixture(scope="session")
def golden() -> dict[str, Any]:
    """The reference's scores and preprocessing facts (``scripts/make_golden.py``)."""
    return json.loads((GOLDEN / "golden_videoreward.json").read_text())


def published_options(layout: str, **extra: Any) -> dict[str, Any]:
    """Options loading the reference-written checkpoint ``layout`` (full or lora) on the tiny base."""
    return {"model": str(GOLDEN / layout), "base_model": str(GOLDEN / "base"), "device": "cpu", **extra}


@pytest.fixture(scope="session")
def published() -> Callable[..., dict[str, Any]]:
    """:func:`published_options`, for tests (which cannot import this module)."""
    return published_options


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return GOLDEN


@pytest.fixture(scope="session", params=["full", "lora"])
def layout_reward(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The reward loaded from each published layout (raw outputs)."""
    from f2g_plugin_videoreward.reward import VideoReward

    reward = VideoReward(VideoReward.Options(**published_options(request.param, normalize=False)))
    reward.load()
    reward.layout = request.param  # type: ignore[attr-defined]
    yield reward
    reward.close()
