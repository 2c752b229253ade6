"""The fixed videos and prompts of the VideoScore parity test, made from integer arithmetic (no RNG).

The golden-value script runs this file by path in the reference's environment and writes each video losslessly
(PNG frames in AVI) so that the reference reads it from a file with PyAV, as its example does; the parity test
makes the same frames here and hands them to the port. Only numpy is imported (through
:mod:`f2g_torch_utils.synthetic_videos`, which makes the frames and holds the prompts; the script puts it on the path).
"""

from __future__ import annotations

from f2g_torch_utils.synthetic_videos import PROMPTS, VideoSpec, make_frames

VIDEOS = (
    VideoSpec("small-16", 16, 64, 64),  # all 16 frames; both sides raised to 378 (bilinear upscale)
    VideoSpec("long-100", 100, 48, 80),  # more than 48 frames: 48 of them, step 100/48; aspect changed to 378×378
    VideoSpec("wide-12", 12, 300, 1200),  # longest side above 980: 980 wide, height 245 raised to 378
    VideoSpec("tall-8", 8, 1000, 500),  # taller than 980: 980 × 490
    VideoSpec("exact-6", 6, 378, 420),  # already within bounds: no resize
    VideoSpec("odd-4", 4, 686, 812),  # 49 × 58 patches: sizes where the reference's position ids differ from
    # current transformers' (see model.patch_positions)
)

RUNS = ((0, 0), (1, 1), (2, 2), (3, 4), (4, 0), (5, 2), (0, 3))
"""The (video, prompt) pairs scored: every video with a prompt of known words, and one with the unknown-word
prompt (the Chinese one: its words become ``<unk>``, the padding token, which moves the token the head reads to one
before the frames, as in the reference (see ``tiny.py``): the score is the same for any video)."""

__all__ = ["PROMPTS", "RUNS", "VIDEOS", "VideoSpec", "make_frames"]
