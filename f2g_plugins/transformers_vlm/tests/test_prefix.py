"""SharedPrefix: continuations of a cached prompt prefix give the whole prompt's probabilities, with the media encoded
once, on tiny random LLaVA, Qwen2.5-VL and Qwen3-VL (images) and both Qwen families' videos."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from f2g_plugin_transformers_vlm.answers import option_token_ids
from f2g_plugin_transformers_vlm.prefix import SharedPrefix

WORDS = ("Is", "it", "red", "round", "moving", "left", "right", "smooth", "?", "yes", "no", "reddish")
QUESTIONS = ["Is it red?", "Is it round and moving left?", "Is it smooth?", "Is it moving right or left?"]
"""Continuations of different lengths: a pass holds right-padded rows."""


@pytest.fixture(scope="module", params=["llava", "qwen2.5-vl", "qwen3-vl"])
def vlm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any, Any]:
    from f2g_plugin_transformers_vlm.tiny import TINY_BUILDERS
    from f2g_torch_utils.compat import ensure_torchvision

    ensure_torchvision()
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = TINY_BUILDERS[request.param](tmp_path_factory.mktemp(request.param), extra_words=WORDS)
    processor = AutoProcessor.from_pretrained(folder)
    processor.tokenizer.padding_side = "left"
    return request.param, AutoModelForImageTextToText.from_pretrained(folder).eval(), processor


def chat(processor: Any, media: list[dict[str, str]]) -> tuple[str, str]:
    """The chat up to where the question starts (the text every question shares), and what follows the question."""
    marker = "\x00"
    messages = [{"role": "user", "content": [*media, {"type": "text", "text": marker}]}]
    head, tail = str(processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)).split(marker)
    return head, tail


def images(rows: int, count: int = 2) -> dict[str, Any]:
    from PIL import Image

    rng = np.random.default_rng(rows)
    return {"images": [[Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)) for _ in range(count)]
                       for _ in range(rows)]}  # fmt: skip


def video(rows: int) -> dict[str, Any]:
    rng = np.random.default_rng(rows)
    metadata = {"fps": 8.0, "total_num_frames": 4, "frames_indices": [0, 1, 2, 3]}
    return {
        "videos": [rng.integers(0, 255, (4, 48, 64, 3), dtype=np.uint8) for _ in range(rows)],
        "video_metadata": [dict(metadata) for _ in range(rows)],
        "do_sample_frames": False,
    }


def vision_calls(model: Any) -> list[int]:
    """A counter of the vision tower's forward calls."""
    inner = model.model
    tower = getattr(inner, "visual", None) or inner.vision_tower
    calls = [0]
    tower.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.numerics
@pytest.mark.parametrize("kind", ["images", "video"])
def test_continuations_give_the_whole_prompts_probabilities(vlm: tuple[str, Any, Any], kind: str) -> None:
    family, model, processor = vlm
    if kind == "video" and family == "llava":
        pytest.skip("the tiny LLaVA takes images only")
    media = images(3) if kind == "images" else video(3)
    prefix, tail = chat(processor, [{"type": "image"}] * 2 if kind == "images" else [{"type": "video"}])
    suffixes = [[question + tail for question in QUESTIONS]] * 3
    yes_no = [option_token_ids(processor.tokenizer, answer) for answer in ("yes", "no")]
    calls = vision_calls(model)
    shared = SharedPrefix(model, processor, prefix, media, rows=3, batch_size=5)
    got = shared.option_log_probs(suffixes, yes_no).numpy()
    assert shared.passes == 1 + math.ceil(3 * len(QUESTIONS) / 5) and calls[0] == 1  # the media encoded once
    whole = SharedPrefix(model, processor, prefix, media, rows=3, batch_size=5, share=False)
    expected = whole.option_log_probs(suffixes, yes_no).numpy()
    assert whole.passes == len(QUESTIONS) and calls[0] == 1 + len(QUESTIONS)
    assert got.shape == (3, len(QUESTIONS), 2) and np.all(np.isfinite(expected))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)  # log-probabilities: ≤ 1e-5 relative in P
    assert np.ptp(expected[:, :, 0], axis=1).min() > 1e-3  # the questions differ, so a misplaced one would show


def test_a_continuation_that_merges_with_the_prefix_runs_whole(vlm: tuple[str, Any, Any]) -> None:
    """The word-level miniatures read "reddish" as one token: "…red" + "dish" cannot reuse the prefix's "red"."""
    _, model, processor = vlm
    prefix = chat(processor, [{"type": "image"}] * 2)[0] + "Is it red"
    yes_no = [option_token_ids(processor.tokenizer, answer) for answer in ("yes", "no")]
    shared = SharedPrefix(model, processor, prefix, images(2), rows=2, batch_size=4)
    got = shared.option_log_probs([["dish?"], [" round?"]], yes_no)
    assert shared.passes == 1  # one whole pass of both rows, no prefix pass
    reference = SharedPrefix(model, processor, prefix, images(2), rows=2, batch_size=4, share=False)
    assert np.array_equal(got.numpy(), reference.option_log_probs([["dish?"], [" round?"]], yes_no).numpy())


def test_rows_must_have_as_many_continuations(vlm: tuple[str, Any, Any]) -> None:
    _, model, processor = vlm
    prefix = chat(processor, [{"type": "image"}])[0]
    shared = SharedPrefix(model, processor, prefix, images(2, 1), rows=2, batch_size=2)
    with pytest.raises(ValueError, match="same number of continuations"):
        shared.option_log_probs([["a"], ["b", "c"]], [[0]])
