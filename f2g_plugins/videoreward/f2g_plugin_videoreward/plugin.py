"""Entry point of ``f2g-plugin-videoreward``: registers the ``videoreward`` reward and metric (no torch import)."""

from __future__ import annotations

from f2g_core.hookspecs import Register, hookimpl


@hookimpl
def register_rewards(register: Register) -> None:
    from f2g_plugin_videoreward.reward import VideoReward

    register(VideoReward, aliases=("video-reward", "videoalign"))


@hookimpl
def register_metrics(register: Register) -> None:
    from f2g_plugin_videoreward.reward import VideoRewardMetric

    register(VideoRewardMetric)
