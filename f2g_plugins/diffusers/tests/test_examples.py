"""The shipped example configs that use these backbones validate against the installed plugins."""

from __future__ import annotations

from pathlib import Path

import pytest

from f2g_core.pipeline import Pipeline

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_wan_gpt4o_clip_example_builds() -> None:
    pytest.importorskip("f2g_plugin_openai")
    pytest.importorskip("f2g_plugin_clip")
    pipeline = Pipeline.from_config(EXAMPLES / "diffusers_wan_gpt4o_clip.yaml")  # builds, loads nothing
    assert pipeline.backbone.name == "wan"
    assert list(pipeline.rewards) == ["gpt4o", "clip"]
    assert pipeline.key_frames() == [0, 11, 22, 32]
    assert pipeline.config.combiner.type == "weighted-sum"
