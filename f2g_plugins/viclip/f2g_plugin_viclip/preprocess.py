"""Turning key frames into ViCLIP's (3, T, S, S) input: frame selection and the two published pipelines.

* ``vbench`` (default): VBench's ``clip_transform`` — the setting of the text–video alignment numbers the paper
  reports: uint8 frames, bicubic resize of the short side without antialiasing, centre crop, CLIP mean/std.
* ``internvid``: the InternVid demo's ``frames2tensor`` — squash to S×S with bilinear interpolation (cv2's
  INTER_LINEAR; ours rounds like cv2 but its fixed-point arithmetic can differ by one grey level), ImageNet mean/std.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

Preprocess = Literal["vbench", "internvid"]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def select_frames(available: int, wanted: int) -> np.ndarray:
    """Indices of ``wanted`` frames spread evenly over ``available`` (repeating frames when there are fewer)."""
    if available == wanted:
        return np.arange(wanted)
    return np.rint(np.linspace(0, available - 1, wanted)).astype(int)


def to_uint8(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) float in [0, 1] -> (T, 3, H, W) uint8, rounded: videos are scored as the 8-bit frames saved."""
    pixels = np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()


def video_tensor(frames: np.ndarray, size: int, mode: Preprocess) -> torch.Tensor:
    """(T, H, W, 3) float frames -> (3, T, size, size) float32 model input."""
    from f2g_torch_utils.compat import ensure_torchvision

    ensure_torchvision()
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    pixels = to_uint8(frames)
    if mode == "vbench":
        pixels = F.center_crop(F.resize(pixels, size, InterpolationMode.BICUBIC, antialias=False), [size, size])
        mean, std = CLIP_MEAN, CLIP_STD
    else:
        resized = torch.nn.functional.interpolate(
            pixels.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=False
        )
        pixels = resized.round().clamp(0, 255).to(torch.uint8)
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    video = F.normalize(pixels.float() / 255.0, list(mean), list(std))
    return video.permute(1, 0, 2, 3).contiguous()
