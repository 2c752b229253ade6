"""VideoReward's input pipeline, as the reference runs it: which frames, what size, what pixels, what text.

The reference reads a video file, keeps frames at 2 per second of the video's *real* frame rate (at least 4, an
even number), resizes them with torchvision's antialiased bicubic filter so that their pixel count falls between
its minimum and ``max_frame_pixels`` with both sides multiples of 28, then hands them to Qwen2-VL's processor
(rescale to [0, 1], CLIP normalisation, 14-pixel patches in pairs of frames) with its ``detailed_special`` prompt in
the chat template. Here the frames arrive as arrays instead of a file; everything after decoding is the same, and
the parity test checks the token ids and pixel values against the reference's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from f2g_torch_utils.frames import frame_count as frame_count  # the frame rule is shared (VideoScore2 too)
from f2g_torch_utils.frames import frame_indices as frame_indices

if TYPE_CHECKING:
    import torch

MIN_PIXELS = 128 * 28 * 28
"""The reference's smallest frame (qwen-vl-utils' ``VIDEO_MIN_PIXELS``): small videos are upscaled to it."""
MAX_RATIO = 200
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def resized_size(height: int, width: int, max_pixels: int, factor: int = 28) -> tuple[int, int]:
    """The frame size the reference resizes to: sides multiples of ``factor``, aspect kept as well as the
    pixel count between :data:`MIN_PIXELS` and ``max_pixels`` allows (qwen-vl-utils' ``smart_resize`` rule)."""
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ValueError(f"frames of {height}×{width} are too elongated (aspect ratio above {MAX_RATIO})")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = math.floor(height / beta / factor) * factor
        w = math.floor(width / beta / factor) * factor
    elif h * w < MIN_PIXELS:
        beta = math.sqrt(MIN_PIXELS / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


@dataclass(frozen=True)
class PixelLayout:
    """How the vision tower wants pixels: patch sides, frames per temporal patch, merge size, normalisation."""

    patch_size: int = 14
    temporal_patch_size: int = 2
    merge_size: int = 2
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD

    @property
    def factor(self) -> int:
        """Frame sides must be multiples of this: one merged token covers factor × factor pixels."""
        return self.patch_size * self.merge_size


def video_pixels(frames: np.ndarray, max_pixels: int, layout: PixelLayout) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """Flattened patches (tokens × channels·frames·patch²) and the (t, h, w) patch grid of one clip.

    ``frames`` is (T, H, W, 3) uint8. The resize is torchvision's antialiased bicubic on uint8, as the reference
    calls it (result rounded to uint8); Qwen2-VL's processor then rescales in float64, normalises in float32 and
    orders the patches so that each 2×2 block of patches that the merger joins is contiguous.
    """
    import torch
    from f2g_torch_utils.compat import ensure_torchvision

    ensure_torchvision()
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as tvf

    count, height, width, _ = frames.shape
    h, w = resized_size(height, width, max_pixels, layout.factor)
    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    video = tvf.resize(video, [h, w], interpolation=InterpolationMode.BICUBIC, antialias=True)
    scaled = (video.double() * (1 / 255)).float()
    mean = torch.tensor(layout.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(layout.std, dtype=torch.float32).view(1, 3, 1, 1)
    pixels = (scaled - mean) / std
    if count % layout.temporal_patch_size:
        pad = layout.temporal_patch_size - count % layout.temporal_patch_size
        pixels = torch.cat([pixels, pixels[-1:].expand(pad, -1, -1, -1)])
    p, m, tp = layout.patch_size, layout.merge_size, layout.temporal_patch_size
    grid = (pixels.shape[0] // tp, h // p, w // p)
    patches = pixels.reshape(grid[0], tp, 3, grid[1] // m, m, p, grid[2] // m, m, p)
    patches = patches.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return patches.reshape(grid[0] * grid[1] * grid[2], 3 * tp * p * p), grid


def chat_text(tokenizer: Any, template: str, prompt: str, video_tokens: int) -> str:
    """The model's input text: the reward prompt in a one-video user turn, the video marker repeated once per
    merged visual token (what Qwen2-VL's processor does to ``<|video_pad|>``)."""
    messages = [
        {
            "role": "user",
            "content": [{"type": "video"}, {"type": "text", "text": template.format(text_prompt=prompt)}],
        }
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if not isinstance(text, str) or text.count("<|video_pad|>") != 1:
        raise ValueError("the tokenizer's chat template must place one <|video_pad|> for a video part")
    return text.replace("<|video_pad|>", "<|video_pad|>" * video_tokens)
