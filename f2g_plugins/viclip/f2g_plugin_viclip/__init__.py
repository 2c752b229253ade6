"""f2g-plugin-viclip: ViCLIP (InternVid) text–video similarity of the key frames taken as one clip."""

from f2g_plugin_viclip.reward import ViCLIPReward

__all__ = ["ViCLIPReward"]
__version__ = "0.2.0"
