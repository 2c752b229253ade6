"""Entry point of the ``f2g`` plugin group: registers the ``transformers-vlm`` reward and the published judges'
rubrics (``videoscore2``, ``unifiedreward``) as rewards and metrics (no transformers or torch import)."""

from f2g_core.hookspecs import Register, hookimpl
from f2g_plugin_transformers_vlm.reward import TransformersVLMReward


@hookimpl
def register_rewards(register: Register) -> None:
    from f2g_plugin_transformers_vlm.rubric import UnifiedRewardReward, VideoScore2Reward

    register(TransformersVLMReward, aliases=("open-vlm",))
    register(VideoScore2Reward, aliases=("videoscore-2",))
    register(UnifiedRewardReward, aliases=("unifiedreward-2.0",))


@hookimpl
def register_metrics(register: Register) -> None:
    from f2g_plugin_transformers_vlm.rubric import UnifiedRewardMetric, VideoScore2Metric

    register(VideoScore2Metric)
    register(UnifiedRewardMetric)
