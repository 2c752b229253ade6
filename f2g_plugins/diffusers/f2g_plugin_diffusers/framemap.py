"""Which latent frames to decode to get given video frames out of a temporally compressed (causal) VAE.

Causal video VAEs (Wan, CogVideoX, HunyuanVideo, LTX-Video) compress time by r: latent frame 0 decodes to video
frame 0 alone, latent frame k >= 1 to video frames r(k-1)+1 .. rk. So latent frames [j, k] decode to
1 + r(k - j) frames, and video frame f (f > r·j) sits at output index f - r·j.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def latent_index(frame: int, factor: int) -> int:
    """The latent frame that produces video ``frame``."""
    return 0 if frame <= 0 else (frame - 1) // factor + 1


def num_latent_frames(num_frames: int, factor: int) -> int:
    """Latent frames of a ``num_frames`` video (``factor``k+1 frames -> k+1 latents)."""
    return (num_frames - 1) // factor + 1


@dataclass(frozen=True)
class Span:
    """Decode latent frames ``[start, stop)`` and take output frames ``picks`` (one per requested frame)."""

    start: int
    stop: int
    picks: tuple[int, ...]
    """For each requested frame handled by this span: (position in the request, index in the span's output)."""
    positions: tuple[int, ...]


def prefix_span(frames: Sequence[int], factor: int) -> Span:
    """The shortest prefix of latents containing every requested frame (exact for causal decoders)."""
    stop = max(latent_index(f, factor) for f in frames) + 1
    return Span(0, stop, tuple(frames), tuple(range(len(frames))))


def window_spans(frames: Sequence[int], factor: int, context: int) -> list[Span]:
    """Short latent windows, each ending at a requested frame's latent and starting ``context`` latents earlier.

    Approximate for causal decoders (the window's first latent is decoded as if it began the video); windows that
    touch are merged so no latent is decoded twice.
    """
    if context < 1:
        raise ValueError("window decoding needs context >= 1 latent frame before each key frame")
    order = sorted(range(len(frames)), key=lambda i: frames[i])
    spans: list[tuple[int, int, list[int]]] = []
    for i in order:
        k = latent_index(frames[i], factor)
        start = max(k - context, 0)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], k + 1), [*spans[-1][2], i])
        else:
            spans.append((start, k + 1, [i]))
    out = []
    for start, stop, members in spans:
        picks = tuple(max(frames[i] - factor * start, 0) for i in members)
        out.append(Span(start, stop, picks, tuple(members)))
    return out
