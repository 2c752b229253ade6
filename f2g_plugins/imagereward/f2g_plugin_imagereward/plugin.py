"""Entry point of ``f2g-plugin-imagereward``: registers the ``imagereward`` reward (no torch import here)."""

from __future__ import annotations

from f2g_core.hookspecs import Register, hookimpl
from f2g_plugin_imagereward.reward import ImageRewardReward


@hookimpl
def register_rewards(register: Register) -> None:
    register(ImageRewardReward, aliases=("image-reward",))
