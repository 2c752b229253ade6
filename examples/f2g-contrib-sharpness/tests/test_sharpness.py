"""The tutorial plugin's tests: the shipped fixtures, the local LVLM test server, and a whole guided run."""

from __future__ import annotations

import math

import numpy as np
import pytest
from f2g_contrib_sharpness import plugin
from f2g_contrib_sharpness.combiner import Minimum
from f2g_contrib_sharpness.judge import SharpnessJudge
from f2g_contrib_sharpness.sharpness import Sharpness

from f2g_core.errors import ConfigError
from f2g_core.pipeline import Pipeline


# --8<-- [start:test-sync]
def test_textured_beats_flat(make_reward_batch) -> None:
    frames = np.full((2, 4, 16, 16, 3), 0.5, dtype=np.float32)
    frames[1] = np.random.default_rng(0).random((4, 16, 16, 3), dtype=np.float32)
    scores = Sharpness().score(make_reward_batch(frames))
    assert scores[1] > scores[0] == 0.0


def test_options_are_validated_with_their_path(register_plugin) -> None:
    registry = register_plugin(plugin, name="sharpness").registry
    with pytest.raises(ConfigError, match=r"rewards\[0\]\.options\.scale"):
        registry.build("reward", "sharp", {"scale": 0}, "rewards[0]")


# --8<-- [end:test-sync]


# --8<-- [start:test-async]
async def test_judge_against_the_local_server(lvlm_server, lvlm_env, make_reward_batch) -> None:
    lvlm_server.script("Answer: 8", "Answer: 3", "no idea")  # three candidates, three scripted answers
    options = SharpnessJudge.Options(base_url=lvlm_server.openai_base_url, model="tiny", max_concurrency=1)
    judge = SharpnessJudge(options)
    judge.load()
    scores = await judge.ascore(make_reward_batch(n=3))
    assert scores[:2] == [8.0, 3.0] and math.isnan(scores[2])  # an unreadable answer is NaN
    assert lvlm_server.max_in_flight == 1 and judge.usage()["calls"] == 3
    assert len(lvlm_server.requests[0].images()) == 1  # the model was shown the key-frame grid


def test_judge_without_a_key_says_how_to_fix_it(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="export OPENAI_API_KEY"):
        SharpnessJudge().load()


# --8<-- [end:test-async]


# --8<-- [start:test-combiner]
def test_minimum_is_nan_in_nan_out() -> None:
    combined = Minimum().combine(
        {"a": np.array([1.0, 5.0, np.nan]), "b": np.array([2.0, 0.5, 1.0])}, {"a": 1.0, "b": 1.0}
    )
    assert combined[:2].tolist() == [1.0, 0.5] and math.isnan(combined[2])


# --8<-- [end:test-combiner]


# --8<-- [start:test-run]
def test_guides_a_run(register_plugin, gmm_config, lvlm_server, lvlm_env) -> None:
    """A whole run with both rewards and the combiner. The analytic backbone's frames are flat colours, so the
    pixel reward scores 0 everywhere here: this checks the wiring (calls, per-step scores), not that sharpness
    guides — for that, use frames with texture (a real or textured test backbone)."""
    gmm_config["rewards"] = [
        {"type": "sharpness"},
        {"type": "sharpness-judge", "options": {"base_url": lvlm_server.openai_base_url, "model": "tiny"}},
    ]
    gmm_config["combiner"] = {"type": "minimum"}
    with Pipeline.from_config(gmm_config, registry=register_plugin(plugin, name="sharpness").registry) as pipeline:
        result = pipeline.generate(seed=0)
    guided = [step for step in result.trace.steps if step.guided]
    assert len(guided) == gmm_config["guidance"]["options"]["num_guided_steps"]
    assert all(step.scores["sharpness-judge"] == [7.0] * 5 for step in guided)  # the server's default answer
    assert result.trace.totals()["usage"]["sharpness-judge"]["calls"] == 5 * len(guided)


# --8<-- [end:test-run]
