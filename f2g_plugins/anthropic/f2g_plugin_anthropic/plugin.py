"""Entry point of the ``f2g`` plugin group: registers the ``anthropic`` reward (no SDK import here)."""

from f2g_core.hookspecs import Register, hookimpl
from f2g_plugin_anthropic.reward import AnthropicReward


@hookimpl
def register_rewards(register: Register) -> None:
    register(AnthropicReward, aliases=("claude",))
