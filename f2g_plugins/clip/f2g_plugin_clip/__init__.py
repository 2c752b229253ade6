"""f2g-plugin-clip: CLIP-family image rewards for f2g — ``clip`` (any open_clip model), ``pickscore``, ``hps``."""

from f2g_plugin_clip.clip_reward import ClipComponents, ClipReward
from f2g_plugin_clip.hps import HPSReward
from f2g_plugin_clip.pickscore import PickScoreReward

__all__ = ["ClipComponents", "ClipReward", "HPSReward", "PickScoreReward"]
__version__ = "0.2.0"
