"""VideoScore-v1.1's input pipeline, as the reference runs it: which frames, what size, what pixels, what text.

The reference example reads the video with PyAV and keeps every frame of a video of at most 48 frames, else the
frames ``arange(0, total, total / 48)`` (truncated): 48 frames from the first, evenly spaced, the last one usually
not among them. Each frame goes through Idefics2's image processor (transformers 4.45, the checkpoint's settings):
resized with PIL's bilinear filter only when a side is out of bounds (the longer side down to 980, then each side
up to at least 378, which can change the aspect ratio), rescaled to [0, 1] in float64, normalised to [-1, 1] in
float32, and never split into crops. The text is the query prompt with the video's prompt inserted, followed by
one ``<image> `` per frame; each ``<image>`` becomes ``<fake_token_around_image>`` + 64 × ``<image>`` +
``<fake_token_around_image>`` and the tokenizer prepends ``<s>``. No chat template is used. The parity test checks
the token ids and pixel values against the reference's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_FRAMES = 48
"""VideoScore-v1.1's frame budget (v1.0: 16)."""
IMAGE_TOKEN = "<image>"
FAKE_TOKEN = "<fake_token_around_image>"


def frame_indices(total: int, max_frames: int = MAX_FRAMES) -> list[int]:
    """The frames the reference scores of a ``total``-frame video: all of them up to ``max_frames``, else
    ``arange(0, total, total / max_frames)`` truncated to integers."""
    if total < 1:
        raise ValueError("a video needs at least one frame")
    if total <= max_frames:
        return list(range(total))
    return [int(i) for i in np.arange(0, total, total / max_frames).astype(int)]


@dataclass(frozen=True)
class ImageSettings:
    """The checkpoint's ``preprocessor_config.json`` settings that the pipeline uses."""

    shortest_edge: int = 378
    longest_edge: int = 980
    resample: int = 2
    rescale_factor: float = 1 / 255
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    @classmethod
    def from_config(cls, settings: dict[str, Any]) -> ImageSettings:
        """From a ``preprocessor_config.json`` dict (crop splitting is refused: VideoScore never uses it)."""
        if settings.get("do_image_splitting", False):
            raise ValueError("do_image_splitting is not supported (VideoScore's processor does not split frames)")
        size = settings.get("size", {})
        return cls(
            shortest_edge=int(size.get("shortest_edge", cls.shortest_edge)),
            longest_edge=int(size.get("longest_edge", cls.longest_edge)),
            resample=int(settings.get("resample", cls.resample)),
            rescale_factor=float(settings.get("rescale_factor", cls.rescale_factor)),
            mean=tuple(settings.get("image_mean", cls.mean)),
            std=tuple(settings.get("image_std", cls.std)),
        )


def resized_size(height: int, width: int, settings: ImageSettings) -> tuple[int, int]:
    """Idefics2's rule: the longer side capped at ``longest_edge`` (aspect kept, the other side truncated), then
    each side raised to at least ``shortest_edge``."""
    if width >= height and width > settings.longest_edge:
        height, width = int(settings.longest_edge / (width / height)), settings.longest_edge
    elif height > width and height > settings.longest_edge:
        height, width = settings.longest_edge, int(settings.longest_edge * (width / height))
    return max(height, settings.shortest_edge), max(width, settings.shortest_edge)


def frame_pixels(frames: np.ndarray, settings: ImageSettings) -> np.ndarray:
    """(T, 3, h, w) float32 pixels of (T, H, W, 3) uint8 frames, as Idefics2's processor makes them."""
    from PIL import Image

    height, width = resized_size(frames.shape[1], frames.shape[2], settings)
    mean = np.asarray(settings.mean, dtype=np.float32)
    std = np.asarray(settings.std, dtype=np.float32)
    out = []
    for frame in frames:
        image = Image.fromarray(np.ascontiguousarray(frame), mode="RGB")
        resized = np.asarray(image.resize((width, height), resample=settings.resample, reducing_gap=None))
        scaled = (resized * settings.rescale_factor).astype(np.float32)
        out.append(((scaled - mean) / std).transpose(2, 0, 1))
    return np.stack(out)


def query_text(template: str, prompt: str, num_frames: int, image_seq_len: int) -> str:
    """The model's input text: the query prompt with ``prompt`` inserted, one ``<image>`` per frame, each expanded
    to ``image_seq_len`` image tokens between two ``<fake_token_around_image>``."""
    if IMAGE_TOKEN in prompt or FAKE_TOKEN in prompt:
        raise ValueError(f"a prompt may not contain {IMAGE_TOKEN} or {FAKE_TOKEN}")
    text = template.format(text_prompt=prompt) + f"{IMAGE_TOKEN} " * num_frames
    text = text.replace(IMAGE_TOKEN, FAKE_TOKEN + IMAGE_TOKEN * image_seq_len + FAKE_TOKEN)
    return text.replace(FAKE_TOKEN + FAKE_TOKEN, FAKE_TOKEN)
