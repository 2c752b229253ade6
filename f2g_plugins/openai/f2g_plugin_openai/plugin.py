"""Entry point of the ``f2g`` plugin group: registers the ``openai`` reward and the ``unifiedreward-openai`` template
(no SDK import here)."""

from f2g_core.hookspecs import Register, hookimpl
from f2g_plugin_openai.reward import OpenAIReward
from f2g_plugin_openai.unifiedreward import UnifiedRewardOpenAI


@hookimpl
def register_rewards(register: Register) -> None:
    register(OpenAIReward, aliases=("gpt", "openai-compatible"))
    register(UnifiedRewardOpenAI)
