"""Key-frame grids and reward batches."""

import numpy as np
import pytest

from f2g_core.images import key_frame_grid, to_uint8
from f2g_core.interfaces import RewardBatch, StepInfo
from f2g_core.testing import reward_batch

pytestmark = pytest.mark.plugin_independent  # never loads the installed plugins (tests/conftest.py)


def test_grid_is_2x2_with_frames_in_reading_order() -> None:
    frames = np.zeros((4, 32, 32, 3), dtype=np.float32)
    for i, colour in enumerate([(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0)]):
        frames[i, ...] = colour
    grid = np.asarray(key_frame_grid(frames, labels=True))
    assert grid.shape == (128, 128, 3)  # 32-px tiles are upscaled to 64 so labels stay legible
    assert tuple(grid[40, 40]) == (255, 0, 0) and tuple(grid[40, 100]) == (0, 255, 0)
    assert tuple(grid[100, 40]) == (0, 0, 255) and tuple(grid[100, 100]) == (255, 255, 0)
    assert (grid[2:10, 2:10] != (255, 0, 0)).any()  # the label sits in the top-left corner
    unlabelled = np.asarray(key_frame_grid(frames, labels=False))
    assert tuple(unlabelled[3, 3]) == (255, 0, 0)


def test_reward_batch_checks_shapes_and_converts() -> None:
    batch = reward_batch(n=2, num_key_frames=4, size=8)
    assert len(batch) == 2 and batch.uint8().dtype == np.uint8 and len(batch.pil_frames(1)) == 4
    assert batch.grid(0).size == (128, 128) and batch.frame_indices == (0, 5, 10, 15)
    with pytest.raises(ValueError, match="N, F, H, W, 3"):
        RewardBatch("p", np.zeros((2, 8, 8, 3)), (0,), 16, StepInfo.final(50))
    with pytest.raises(ValueError, match="indices"):
        RewardBatch("p", np.zeros((1, 2, 8, 8, 3)), (0,), 16, StepInfo.final(50))
    assert to_uint8(np.array([0.0, 0.5, 1.0])).tolist() == [0, 128, 255]
