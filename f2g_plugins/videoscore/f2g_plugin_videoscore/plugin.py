"""Entry point of ``f2g-plugin-videoscore``: registers the ``videoscore`` reward and metric (no torch import)."""

from __future__ import annotations

from f2g_core.hookspecs import Register, hookimpl


@hookimpl
def register_rewards(register: Register) -> None:
    from f2g_plugin_videoscore.reward import VideoScore

    register(VideoScore, aliases=("video-score",))


@hookimpl
def register_metrics(register: Register) -> None:
    from f2g_plugin_videoscore.reward import VideoScoreMetric

    register(VideoScoreMetric)
