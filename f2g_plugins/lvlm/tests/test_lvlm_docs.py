"""docs/lvlm.md documents every option of the three LVLM rewards and every fixture."""

from pathlib import Path

import pytest
from f2g_plugin_anthropic import AnthropicReward
from f2g_plugin_openai import OpenAIReward
from f2g_plugin_transformers_vlm import TransformersVLMReward

DOC = Path(__file__).resolve().parents[3] / "docs" / "lvlm.md"


@pytest.mark.parametrize("reward", [OpenAIReward, AnthropicReward, TransformersVLMReward])
def test_every_option_is_documented(reward):
    text = DOC.read_text()
    missing = [name for name in reward.Options.model_fields if f"`{name}`" not in text]
    assert not missing, f"docs/lvlm.md does not document {reward.name} options {missing}"


def test_fixtures_and_counters_are_documented():
    from f2g_lvlm.accounting import Usage

    text = DOC.read_text()
    for name in ("lvlm_server", "lvlm_env", "lvlm_batch", *Usage().as_dict()):
        assert f"`{name}`" in text, name


EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("lvlm_*.yaml")), ids=lambda p: p.name)
def test_lvlm_example_configs_build(path, lvlm_env):
    """Every lvlm_*.yaml example validates and builds (nothing is loaded or called)."""
    shapes = pytest.importorskip("f2g_plugin_shapes.plugin", reason="the examples guide the shapes backbone")
    import f2g_plugin_openai.plugin as openai_plugin

    from f2g_core.pipeline import Pipeline
    from f2g_core.testing import isolated_plugins

    registry = isolated_plugins([("f2g-plugin-shapes", shapes), ("f2g-plugin-openai", openai_plugin)]).registry
    pipeline = Pipeline.from_config(path, registry=registry)
    assert [reward.name for reward in pipeline.rewards.values()] == ["openai"]
