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


@pytest.mark.parametrize(
    ("name", "steps", "first_guided"),
    [("distill_wan21_4step.yaml", 4, 0), ("distill_wan22_lightning.yaml", 4, 0), ("distill_ltx_8step.yaml", 8, 4)],
)
def test_distill_examples_build_with_a_schedule_of_their_step_count(name: str, steps: int, first_guided: int) -> None:
    pytest.importorskip("f2g_plugin_clip")
    pytest.importorskip("peft")
    pipeline = Pipeline.from_config(EXAMPLES / name)  # builds and validates, loads nothing
    options = pipeline.backbone.options
    custom = options.timesteps if options.timesteps is not None else options.sigmas
    assert custom is not None and len(custom) == steps == pipeline.config.sampler.num_steps
    assert options.guidance_scale == 1.0 == pipeline.config.sampler.cfg_scale  # CFG-distilled: one call per row
    assert pipeline.sampler.options.start == first_guided
