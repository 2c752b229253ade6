"""docs/lvlm.md documents every option of the shared base and of the installed LVLM rewards, and every fixture."""

from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "lvlm.md"
REWARDS = ["f2g_plugin_openai:OpenAIReward", "f2g_plugin_anthropic:AnthropicReward"]
REWARDS += ["f2g_plugin_transformers_vlm:TransformersVLMReward"]


@pytest.mark.parametrize("where", ["f2g_lvlm.reward:LVLMReward", *REWARDS])
def test_every_option_is_documented(where):
    module, name = where.split(":")
    reward = getattr(pytest.importorskip(module, reason=f"{module} is not installed"), name)
    text = DOC.read_text()
    missing = [name for name in reward.Options.model_fields if f"`{name}`" not in text]
    assert not missing, f"docs/lvlm.md does not document {where} options {missing}"


def test_fixtures_and_counters_are_documented():
    from f2g_lvlm.accounting import Usage

    text = DOC.read_text()
    for name in ("lvlm_server", "lvlm_env", "lvlm_batch", "lvlm_rewards", *Usage().as_dict()):
        assert f"`{name}`" in text, name


EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("lvlm_*.yaml")), ids=lambda p: p.name)
def test_lvlm_example_configs_build(path, lvlm_env):
    """Every lvlm_*.yaml example validates and builds (nothing is loaded or called)."""
    shapes = pytest.importorskip("f2g_plugin_shapes.plugin", reason="the examples guide the shapes backbone")
    openai_plugin = pytest.importorskip("f2g_plugin_openai.plugin", reason="the examples use the openai reward")

    from f2g_core.pipeline import Pipeline
    from f2g_core.testing import isolated_plugins

    registry = isolated_plugins([("f2g-plugin-shapes", shapes), ("f2g-plugin-openai", openai_plugin)]).registry
    pipeline = Pipeline.from_config(path, registry=registry)
    assert [reward.name for reward in pipeline.rewards.values()] == ["openai"]
