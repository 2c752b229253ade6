"""f2g-plugin-imagereward: the ImageReward v1.0 reward, ported to current transformers with proven parity."""

from f2g_plugin_imagereward.reward import ImageRewardReward

__all__ = ["ImageRewardReward"]
__version__ = "0.2.0"
