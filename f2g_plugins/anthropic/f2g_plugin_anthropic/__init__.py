"""f2g reward ``anthropic``: Claude rates how well a video's key frames follow the prompt."""

from f2g_plugin_anthropic.reward import AnthropicReward

__all__ = ["AnthropicReward"]
__version__ = "0.2.0"
