"""f2g reward ``openai``: GPT-4o, or any OpenAI-compatible server via ``base_url``, as a Free²Guide LVLM judge."""

from f2g_plugin_openai.reward import OpenAIReward

__all__ = ["OpenAIReward"]
__version__ = "0.2.0"
