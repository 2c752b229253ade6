"""Entry point of ``f2g-plugin-viclip``: registers the ``viclip`` video–text reward (no torch import here)."""

from __future__ import annotations

from f2g_core.hookspecs import Register, hookimpl
from f2g_plugin_viclip.reward import ViCLIPReward


@hookimpl
def register_rewards(register: Register) -> None:
    register(ViCLIPReward)
