"""The reference's sampling and sizing rules (qwen-vl-utils as VideoAlign vendors it), case by case."""

from __future__ import annotations

import numpy as np
import pytest
from f2g_plugin_videoreward.preprocess import (
    MIN_PIXELS,
    PixelLayout,
    frame_count,
    frame_indices,
    resized_size,
    video_pixels,
)

from f2g_core.images import nearest_key_frames


@pytest.mark.parametrize(
    ("total", "fps", "count"),
    [
        (81, 16.0, 10),  # Wan 2.1: 5.06 s at 2 fps
        (16, 8.0, 4),  # the shapes world
        (49, 8.0, 12),  # CogVideoX: 12.25 rounds to 12
        (33, 16.0, 4),  # 4.125 rounds down to an even 4
        (12, 24.0, 4),  # half a second: raised to the minimum of 4
        (3, 8.0, 2),  # shorter than the minimum: the largest even count
        (161, 8.0, 40),
    ],
)
def test_frame_count_is_two_per_second_at_least_four_and_even(total: int, fps: float, count: int) -> None:
    assert frame_count(total, fps, 2.0) == count


def test_the_real_frame_rate_matters() -> None:
    """VideoAlign issue 21: a wrong rate changes which frames are scored."""
    assert frame_indices(81, 16.0, 2.0) == [0, 9, 18, 27, 36, 44, 53, 62, 71, 80]
    assert frame_indices(81, 8.0, 2.0) != frame_indices(81, 16.0, 2.0)


def test_frame_indices_span_the_video() -> None:
    indices = frame_indices(16, 8.0, 2.0)
    assert indices == [0, 5, 10, 15]
    with pytest.raises(ValueError, match="too short"):
        frame_count(1, 8.0, 2.0)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((50, 90), (252, 448)),  # upscaled to at least MIN_PIXELS
        ((480, 640), (364, 504)),  # downscaled to at most 448²
        ((336, 336), (336, 336)),  # already fits
    ],
)
def test_resized_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    h, w = resized_size(*size, max_pixels=200704)
    assert (h, w) == expected and h % 28 == 0 and w % 28 == 0 and MIN_PIXELS <= h * w <= 200704


def test_elongated_frames_are_refused() -> None:
    with pytest.raises(ValueError, match="elongated"):
        resized_size(2, 500, max_pixels=200704)


def test_patches_are_grouped_as_the_merger_reads_them() -> None:
    """Patch i of the flattened output is the 14×14 block at the position the 2×2 merge order gives."""
    frames = np.random.default_rng(0).integers(0, 256, (2, 56, 56, 3), dtype=np.uint8)
    layout = PixelLayout(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    pixels, grid = video_pixels(frames, 200704, layout)  # 56×56 is upscaled: check the grid, then the order
    assert grid[0] == 1 and pixels.shape == (grid[1] * grid[2], 3 * 2 * 14 * 14)
    h, w = grid[1] * 14, grid[2] * 14
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as tvf

    resized = (
        tvf.resize(
            torch.from_numpy(frames).permute(0, 3, 1, 2),
            [h, w],
            interpolation=InterpolationMode.BICUBIC,
            antialias=True,
        ).double()
        / 255
    )
    # the second patch is the right neighbour of the first (same 2×2 merge group), the third the one below
    for index, (row, col) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1), (0, 2)]):
        block = resized[:, :, row * 14 : row * 14 + 14, col * 14 : col * 14 + 14].permute(1, 0, 2, 3)
        np.testing.assert_allclose(pixels[index].double().numpy(), block.reshape(-1).numpy(), atol=1e-6)


def test_nearest_key_frames() -> None:
    assert nearest_key_frames([0, 5, 10, 15], [0, 5, 10, 15]) == [0, 1, 2, 3]
    assert nearest_key_frames([0, 4, 8, 12, 15], [0, 5, 10, 15]) == [0, 1, 2, 4]
