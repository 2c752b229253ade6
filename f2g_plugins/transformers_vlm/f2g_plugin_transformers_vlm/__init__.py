"""f2g reward ``transformers-vlm``: an open VLM in-process (transformers) as a Free²Guide judge."""

from f2g_plugin_transformers_vlm.reward import TransformersVLMReward

__all__ = ["TransformersVLMReward"]
__version__ = "0.2.0"
