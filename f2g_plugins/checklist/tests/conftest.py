"""A tiny random Qwen2.5-VL (f2g-plugin-transformers-vlm's offline builder) knowing the checklist's words."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup would otherwise retry for ~45 s before failing

import re
from pathlib import Path

import pytest


def checklist_words() -> tuple[str, ...]:
    from f2g_plugin_checklist.reward import read_preset

    text = " ".join(read_preset("visionreward-video")["questions"]) + " Answer yes or no. a red circle moving left"
    return tuple(sorted(set(re.findall(r"\w+|[^\w\s]", text))))


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from f2g_plugin_transformers_vlm.tiny import build_tiny_qwen_vl

    return build_tiny_qwen_vl(tmp_path_factory.mktemp("checklist-vlm"), extra_words=checklist_words())


@pytest.fixture(scope="session", params=["qwen2.5-vl", "qwen3-vl"])
def tiny_vlm_family(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2.5-VL, then a tiny Qwen3-VL, knowing the checklist's words."""
    from f2g_plugin_transformers_vlm.tiny import build_tiny_qwen_vl

    folder = tmp_path_factory.mktemp(f"checklist-{request.param}")
    return build_tiny_qwen_vl(folder, request.param, extra_words=checklist_words())
