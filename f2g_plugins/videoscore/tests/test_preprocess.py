"""The reference's sampling, sizing, text and read-position rules, case by case, and where current transformers
differs from them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from f2g_plugin_videoscore.model import patch_positions, read_positions
from f2g_plugin_videoscore.preprocess import (
    FAKE_TOKEN,
    IMAGE_TOKEN,
    ImageSettings,
    frame_indices,
    query_text,
    resized_size,
)


def test_short_videos_keep_every_frame() -> None:
    assert frame_indices(16) == list(range(16))
    assert frame_indices(48) == list(range(48))
    with pytest.raises(ValueError, match="at least one frame"):
        frame_indices(0)


def test_long_videos_keep_48_frames_from_the_first() -> None:
    indices = frame_indices(81)  # Wan 2.1: step 1.6875, truncated
    assert len(indices) == 48 and indices[:6] == [0, 1, 3, 5, 6, 8] and indices[-1] == 79
    assert frame_indices(100)[-3:] == [93, 95, 97]  # the last frame is not among them
    assert frame_indices(161, max_frames=16)[:3] == [0, 10, 20]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((64, 64), (378, 378)),  # both sides raised to the minimum
        ((480, 832), (480, 832)),  # Wan 2.1's frames are within bounds: not resized
        ((300, 1200), (378, 980)),  # longer side capped (height 245), then raised to the minimum
        ((1000, 500), (980, 490)),
        ((1080, 1920), (551, 980)),  # height truncated: int(980 / (1920 / 1080))
    ],
)
def test_resized_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert resized_size(*size, ImageSettings()) == expected


def test_crop_splitting_is_refused() -> None:
    with pytest.raises(ValueError, match="do_image_splitting"):
        ImageSettings.from_config({"do_image_splitting": True})


def test_query_text_expands_each_frame() -> None:
    text = query_text("Prompt {text_prompt}:\n", "a dog", num_frames=3, image_seq_len=4)
    assert text.startswith("Prompt a dog:\n")
    assert text.count(IMAGE_TOKEN) == 12 and text.count(FAKE_TOKEN) == 6  # spaces keep neighbours' fakes apart
    assert text.endswith(f"{FAKE_TOKEN}{IMAGE_TOKEN * 4}{FAKE_TOKEN} ")
    with pytest.raises(ValueError, match="may not contain"):
        query_text("{text_prompt}", "look <image>", num_frames=1, image_seq_len=4)


def test_the_head_reads_before_the_first_padding_token() -> None:
    ids = torch.tensor([[1, 5, 6, 7], [1, 0, 6, 0], [0, 5, 6, 7]])
    assert read_positions(ids, pad_token_id=0).tolist() == [3, 0, 3]  # none: last; at 1: 0; at 0: wraps to last
    assert read_positions(ids, pad_token_id=None).tolist() == [3, 3, 3]


def test_patch_positions_follow_the_reference_not_current_transformers() -> None:
    """For 49 (or 58) patches a side the reference's arange-based coordinates bucket one patch differently from
    current transformers' index × (1 / n): the port keeps the reference's, which the checkpoint was trained with."""
    from f2g_torch_utils.compat import ensure_torchvision

    ensure_torchvision()
    from transformers import Idefics2VisionConfig
    from transformers.models.idefics2.modeling_idefics2 import Idefics2VisionEmbeddings

    embeddings = Idefics2VisionEmbeddings(Idefics2VisionConfig(hidden_size=4, image_size=980, patch_size=14))
    with torch.no_grad():
        embeddings.patch_embedding.weight.zero_()
        embeddings.patch_embedding.bias.zero_()
        embeddings.position_embedding.weight.copy_(torch.arange(4900.0)[:, None].expand(-1, 4))
    for side in (27, 49):
        pixels = torch.zeros(1, 3, side * 14, side * 14)
        theirs = embeddings(pixels, torch.ones(1, side, side, dtype=torch.bool))[0, :, 0].long()
        ours = patch_positions(side, side, 70)
        assert ours.shape == theirs.shape
        assert np.array_equal(ours.numpy(), theirs.numpy()) == (side == 27)
