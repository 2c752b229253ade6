"""The port against goldens made by running the reference VideoScore code (scripts/make_golden.py).

What is compared: the frames the reference sampled, its token ids and its pixel values (bit for bit: PIL's bilinear
resize is integer arithmetic, the same on every CPU), and its five raw outputs per video, one at a time and as a
batch of candidates. Tolerance: :func:`f2g_core.testing.assert_close_to_scale` with ``PARITY_ULPS`` float32
epsilons of the outputs' scale. The port and the reference compute the same float32 function through different
kernels (sdpa vs eager attention, the head applied to one row vs every row, the vision tower 8 vs 2 frames at a
time) and differ only in summation order; any real difference (a position id, the read token, a norm epsilon)
moves outputs by 1e-3 or more, 10^4 epsilons.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from f2g_plugin_videoscore.preprocess import frame_indices
from f2g_plugin_videoscore.testing import PROMPTS, RUNS, VIDEOS, make_frames

from f2g_core.testing import assert_close_to_scale

PARITY_ULPS = 256


def clip(video: int) -> np.ndarray:
    """The frames of test video ``video`` that the reference samples."""
    spec = VIDEOS[video]
    return make_frames(spec)[frame_indices(spec.frames)]


@dataclass
class Port:
    """What the port makes of every golden run."""

    inputs: list[dict[str, Any]]
    raw: np.ndarray


@pytest.fixture(scope="module")
def port(published: Any) -> Port:
    engine = published.engine
    inputs = [engine.inputs(clip(video), PROMPTS[prompt]) for video, prompt in RUNS]
    raw = np.concatenate([engine.raw([clip(video)], [PROMPTS[prompt]]) for video, prompt in RUNS])
    return Port(inputs, raw)


def test_the_goldens_cover_these_inputs(golden: dict[str, Any]) -> None:
    assert [(r["video"], r["prompt"]) for r in golden["results"]] == list(RUNS)
    assert golden["versions"]["transformers"] == "4.45.2" and golden["versions"]["mantis-vl"] == "0.0.5"
    outputs = np.array([r["raw"] for r in golden["results"]])
    assert len({tuple(np.round(row, 6)) for row in outputs}) == len(RUNS)  # each run its own outputs


def test_frame_sampling_matches_the_reference(golden: dict[str, Any]) -> None:
    for result in golden["results"]:
        assert frame_indices(VIDEOS[result["video"]].frames) == result["indices"]


def test_preprocessing_matches_the_reference(port: Port, golden: dict[str, Any]) -> None:
    for inputs, expected in zip(port.inputs, golden["results"], strict=True):
        name = VIDEOS[expected["video"]].name
        ids = inputs["input_ids"][0].tolist()
        assert hashlib.sha256(json.dumps(ids).encode()).hexdigest() == expected["input_ids_sha256"], name
        pixels = inputs["pixel_values"].float().contiguous()
        assert list(pixels.shape) == expected["pixel_values_shape"], name
        assert hashlib.sha256(pixels.numpy().tobytes()).hexdigest() == expected["pixel_values_sha256"], name
        assert expected["pixel_attention_mask_all"]  # one video's frames share a size: no padding


@pytest.mark.numerics
def test_outputs_match_the_reference(port: Port, golden: dict[str, Any]) -> None:
    expected = np.array([r["raw"] for r in golden["results"]])
    assert_close_to_scale(port.raw, expected, ulps=PARITY_ULPS, what="VideoScore outputs vs the reference")


@pytest.mark.numerics
def test_candidates_in_one_batch_match_the_reference(published: Any, golden: dict[str, Any]) -> None:
    """Candidates of one prompt and size go through one forward pass (the reference scores one video at a time)."""
    video, prompt = RUNS[0]
    ours = published.engine.raw([clip(video)] * 3, [PROMPTS[prompt]] * 3)
    expected = np.array([golden["results"][0]["raw"]] * 3)
    assert_close_to_scale(ours, expected, ulps=PARITY_ULPS, what="a batch of 3 candidates vs the reference")


@pytest.mark.numerics
def test_the_miniature_is_the_reference_model(golden: dict[str, Any]) -> None:
    """``model: tiny`` (seed 0) builds the very model the goldens were made with, offline."""
    from f2g_plugin_videoscore.reward import VideoScore

    tiny = VideoScore(VideoScore.Options(model="tiny", device="cpu"))
    ours = tiny.engine.raw([clip(v) for v, _ in RUNS], [PROMPTS[p] for _, p in RUNS])
    expected = np.array([r["raw"] for r in golden["results"]])
    assert_close_to_scale(ours, expected, ulps=PARITY_ULPS, what="model: tiny vs the reference")
