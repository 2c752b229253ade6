"""Entry point of the ``f2g`` plugin group: registers the ``transformers-vlm`` reward (no transformers import)."""

from f2g_core.hookspecs import Register, hookimpl
from f2g_plugin_transformers_vlm.reward import TransformersVLMReward


@hookimpl
def register_rewards(register: Register) -> None:
    register(TransformersVLMReward, aliases=("open-vlm",))
