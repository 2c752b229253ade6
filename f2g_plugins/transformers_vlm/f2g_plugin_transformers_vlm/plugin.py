"""Entry point of the ``f2g`` plugin group: registers the ``transformers-vlm`` reward and the published judges'
rubrics (``videoscore2``, ``unifiedreward``) as rewards and metrics (no transformers import)."""

from f2g_core.hookspecs import Register, hookimpl
from f2g_plugin_transformers_vlm.reward import TransformersVLMReward
from f2g_plugin_transformers_vlm.rubric import (
    UnifiedRewardMetric,
    UnifiedRewardReward,
    VideoScore2Metric,
    VideoScore2Reward,
)


@hookimpl
def register_rewards(register: Register) -> None:
    register(TransformersVLMReward, aliases=("open-vlm",))
    register(VideoScore2Reward, aliases=("videoscore-2",))
    register(UnifiedRewardReward, aliases=("unifiedreward-2.0",))


@hookimpl
def register_metrics(register: Register) -> None:
    register(VideoScore2Metric)
    register(UnifiedRewardMetric)
