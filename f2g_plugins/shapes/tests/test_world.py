"""The world, the grammar and the exact evaluator agree with each other on rendered ground truth."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from f2g_plugin_shapes import PromptError, evaluate, parse_prompt, render_prompt
from f2g_plugin_shapes.grammar import COLOURS, SHAPES, Prompt
from f2g_plugin_shapes.world import NUM_FRAMES, SIZE, random_prompt


def test_render_shape_and_range() -> None:
    video = render_prompt("a red circle moving left", seed=3)
    assert video.shape == (NUM_FRAMES, SIZE, SIZE, 3)
    assert video.dtype == np.float32 and video.min() >= 0.0 and video.max() <= 1.0
    red = np.all(np.abs(video * 255 - np.asarray(COLOURS["red"])) < 1, axis=-1)
    xs = [np.nonzero(red[f])[1].mean() for f in range(NUM_FRAMES)]
    assert xs[-1] < xs[0] - 10, "a circle moving left must end up left of where it started"


def test_render_is_reproducible() -> None:
    a = render_prompt("a yellow triangle above a green circle", seed=7)
    b = render_prompt("a yellow triangle above a green circle", seed=7)
    c = render_prompt("a yellow triangle above a green circle", seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_evaluator_agrees_with_renderer() -> None:
    """≥ 99% of rendered videos pass every dimension of their own prompt (here: all of 300)."""
    rng = random.Random(123)
    passed = 0
    for i in range(300):
        prompt = random_prompt(rng)
        result = evaluate(prompt, render_prompt(prompt, seed=i))
        passed += result.overall
    assert passed / 300 >= 0.99


def test_evaluator_rejects_wrong_attributes() -> None:
    """A video of a prompt with one attribute changed fails the original prompt (≥ 99% of 200)."""
    rng = random.Random(5)
    rejected = 0
    for i in range(200):
        prompt = random_prompt(rng, category=rng.choice(["single", "multiple", "relation"]))
        objects = list(prompt.objects)
        if prompt.relation is not None and rng.random() < 0.5:
            flip = {"above": "below", "below": "above", "left of": "right of", "right of": "left of"}
            wrong = Prompt(prompt.objects, flip[prompt.relation])
        else:
            k = rng.randrange(len(objects))
            objects[k] = replace(objects[k], shape=rng.choice([s for s in SHAPES if s != objects[k].shape]))
            wrong = Prompt(tuple(objects), prompt.relation)
        rejected += not evaluate(prompt, render_prompt(wrong, seed=i)).overall
    assert rejected / 200 >= 0.99


def test_evaluator_on_key_frames_and_motion() -> None:
    video = render_prompt("a blue square moving up", seed=1)
    keys = [0, 5, 10, 15]
    assert evaluate("a blue square moving up", video[keys], keys).overall
    assert not evaluate("a blue square moving down", video[keys], keys).overall
    assert not evaluate("a blue square staying still", video).overall


def test_graded_score_orders_clean_blurry_and_empty() -> None:
    from scipy import ndimage

    video = render_prompt("a magenta triangle moving right", seed=2)
    blurry = ndimage.gaussian_filter(video, sigma=(0, 1.5, 1.5, 0))
    empty = np.zeros_like(video) + np.asarray([24, 24, 30], dtype=np.float32) / 255
    clean_score = evaluate("a magenta triangle moving right", video).score
    blurry_score = evaluate("a magenta triangle moving right", blurry).score
    empty_score = evaluate("a magenta triangle moving right", empty).score
    assert clean_score > 0.9 and empty_score < 0.1
    assert clean_score >= blurry_score > empty_score


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("a red circle moving left", "single"),
        ("A red circle and a blue square.", "multiple"),
        ("a yellow triangle to the left of a green circle", "relation"),
        ("a cyan square staying still", "single"),
    ],
)
def test_parse_prompt(text: str, category: str) -> None:
    parsed = parse_prompt(text)
    assert parsed.category == category
    assert parse_prompt(parsed.text()) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "a purple dog",
        "a red circle moving sideways",
        "a red circle and",
        "",
        "red circle",
        "a red circle above a red square",
    ],
)
def test_malformed_prompt_lists_vocabulary(text: str) -> None:
    from f2g_core.errors import ConfigError

    with pytest.raises(PromptError) as info:
        parse_prompt(text)
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)  # the CLI's user errors
    message = str(info.value)
    if text in ("a purple dog", "a red circle moving sideways"):
        assert "sideways" in message or "purple" in message
        assert "colours: red, green, blue" in message and "circle" in message and "above" in message
