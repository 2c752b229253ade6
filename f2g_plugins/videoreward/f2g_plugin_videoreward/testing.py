"""The fixed videos and prompts of the VideoReward parity test, made from integer arithmetic (no RNG).

The golden-value script runs this file by path in the reference's environment and writes each video losslessly
(PNG frames in AVI) so that the reference reads it from a file as it does in use; the parity test makes the same
frames here and hands them to the port. Only numpy is imported (through
:mod:`f2g_torch_utils.synthetic_videos`, which makes the frames and holds the prompts; the script puts it on the path).
"""

from __future__ import annotations

from f2g_torch_utils.synthetic_videos import PROMPTS, VideoSpec, make_frames

VIDEOS = (
    VideoSpec("small-8fps", 16, 50, 90, 8.0),  # 4 frames at 2 fps; upscaled to the minimum pixel budget
    VideoSpec("square-16fps", 33, 60, 60, 16.0),  # 4.125 frames at 2 fps round to 4
    VideoSpec("long-8fps", 41, 40, 72, 8.0),  # 10.25 frames at 2 fps round to 10 (5 temporal patches)
    VideoSpec("large-24fps", 12, 480, 640, 24.0),  # 1 frame at 2 fps, raised to the minimum 4; downscaled
    VideoSpec("exact-16fps", 24, 336, 336, 16.0),  # already a valid size: no resize, pixels exact on any CPU
)
NO_RESIZE = frozenset({"exact-16fps"})
"""Videos whose frames need no resizing: their pixels do not depend on the CPU's resize kernel."""

__all__ = ["PROMPTS", "VIDEOS", "VideoSpec", "make_frames"]
