"""f2g-plugin-videoscore: VideoScore-v1.1 (TIGER-Lab) on current transformers, with parity to the reference code."""

__version__ = "0.2.0"
