"""f2g-plugin-videoreward: VideoReward (VideoAlign) on current transformers, with parity to the reference code."""

__version__ = "0.2.0"
