"""The openai reward inside the real guided-sampling pipeline (analytic Gaussian-mixture backbone, fast).

The local server plays an LVLM that looks at the grid it receives: brighter tiles (the backbone paints
sigmoid(x0) into the red and green channels) get higher ratings, with answer-digit probabilities whose
expectation is the exact brightness rating. So guidance must pull samples to the bright (+2, +2) mode.
"""

from __future__ import annotations

import math

import f2g_plugin_openai.plugin as openai_plugin
import numpy as np
import pytest
from f2g_lvlm.fake_server import Answer, FakeLVLMServer, RecordedRequest

from f2g_core.pipeline import Pipeline
from f2g_core.testing import isolated_plugins


def brightness_judge(request: RecordedRequest) -> Answer:
    grid = np.asarray(request.images()[0], dtype=np.float64) / 255.0
    value = float(grid[grid.shape[0] // 4 * 3, grid.shape[1] // 4 * 3, :2].mean())  # inside the last tile
    rating = 1.0 + 8.0 * value
    low = min(math.floor(rating), 8)
    high_p = rating - low
    return Answer(
        f"Brightness judged.\nAnswer: {low if high_p < 0.5 else low + 1}",
        probs={str(low): 1.0 - high_p, str(low + 1): high_p},
    )


@pytest.fixture
def judge_server():
    with FakeLVLMServer(responder=brightness_judge, latency=0.02) as server:
        yield server


def config(server: FakeLVLMServer, seed: int = 0, **options: object) -> dict:
    return {
        "prompt": "a bright video",
        "seed": seed,
        "backbone": {"type": "gaussian-mixture"},
        "rewards": [{"type": "openai", "options": {"base_url": server.openai_base_url, "model": "judge", **options}}],
        "sampler": {"num_steps": 20},
        "guidance": {"method": "free2guide", "options": {"num_candidates": 5, "start": 0, "num_guided_steps": 6}},
        "output": {"formats": ["gif"]},
    }


def run(cfg: dict):
    registry = isolated_plugins([("f2g-plugin-openai", openai_plugin)]).registry
    with Pipeline.from_config(cfg, registry=registry) as pipeline:
        return pipeline.generate(), pipeline


def final_point(result) -> np.ndarray:
    value = np.clip(result.video[..., :2].mean(axis=(0, 1, 2)), 1e-6, 1 - 1e-6)
    return np.log(value / (1 - value))


def test_guidance_through_the_lvlm_path(lvlm_env, judge_server):
    result, _ = run(config(judge_server))
    guided = [s for s in result.trace.steps if s.guided]
    assert len(guided) == 6
    for step in guided:
        scores = step.scores["openai"]
        assert len(scores) == 5 and all(s is not None and 1.0 <= s <= 9.0 for s in scores)
        assert step.chosen == int(np.argmax(scores))
        usage = step.usage["openai"]
        assert usage["calls"] + usage["cache_hits"] == 5  # identical quantized grids are answered from the cache
        assert usage["calls"] == usage["logprob_scores"]
    assert 10 <= judge_server.request_count <= 30
    assert judge_server.max_in_flight > 1  # the candidates of a step overlap
    assert final_point(result).mean() > 1.0  # the bright mode


def test_guidance_wins_over_seeds(lvlm_env, judge_server):
    bright = sum(final_point(run(config(judge_server, seed=s, cache=False))[0]).mean() > 0 for s in range(6))
    plain = sum(
        final_point(run({**config(judge_server, seed=s), "guidance": {"method": "none"}})[0]).mean() > 0
        for s in range(6)
    )
    assert bright >= 5 and bright > plain  # unguided sampling lands in each mode about half of the time


def test_budget_stop_finishes_unguided(lvlm_env, judge_server):
    with pytest.warns(UserWarning, match="budget"):
        result, _ = run(config(judge_server, max_calls=12, cache=False))
    assert judge_server.request_count == 10  # steps 0 and 1; step 2 would need 5 more
    assert result.video.shape[0] == 4 and np.isfinite(result.video).all()
    assert any("budget" in event for event in result.trace.events)
    assert sum(1 for s in result.trace.steps if s.guided and s.chosen is not None and s.fallback is None) == 2


def test_cached_rerun_makes_no_calls_and_repeats_the_video(lvlm_env, judge_server):
    first, _ = run(config(judge_server))
    count = judge_server.request_count
    second, _ = run(config(judge_server))
    assert judge_server.request_count == count
    np.testing.assert_array_equal(first.video, second.video)
    assert sum(s.usage["openai"]["cache_hits"] for s in second.trace.steps if s.guided) == 30
    assert sum(s.usage["openai"]["calls"] for s in second.trace.steps if s.guided) == 0


def test_saved_run_never_contains_the_key(lvlm_env, judge_server, tmp_path):
    secret = "sk-in-options-SECRET-0000111122223333"
    result, pipeline = run(config(judge_server, api_key=secret, cache=False))
    assert judge_server.requests[0].headers["authorization"] == f"Bearer {secret}"
    directory = pipeline.save(result, tmp_path)
    texts = [p.read_text(errors="ignore") for p in directory.rglob("*") if p.suffix in {".yaml", ".json", ".txt"}]
    assert texts and not any(secret in text or lvlm_env.openai_key in text for text in texts)
    assert secret not in repr(result.config) and secret not in str(result.trace.to_dict())


def test_budgets_are_per_video_run_and_the_total_budget_spans_runs(lvlm_env, judge_server):
    """max_calls: 12 allows two guided steps of 5 candidates per video, for every video of a reused pipeline."""
    cfg = config(judge_server, max_calls=12, cache=False)
    registry = isolated_plugins([("f2g-plugin-openai", openai_plugin)]).registry
    with Pipeline.from_config(cfg, registry=registry) as pipeline, pytest.warns(UserWarning, match="budget"):
        first, second = pipeline.generate(seed=0), pipeline.generate(seed=1)
        many = pipeline.generate_many(["a bright mode", "another bright mode"], seeds=[2])
    for result in (first, second, *many):
        assert result.trace.totals()["guided_steps"] == 2, result.prompt
    cfg = config(judge_server, max_calls=12, max_total_calls=15, cache=False)
    with Pipeline.from_config(cfg, registry=registry) as pipeline, pytest.warns(UserWarning, match="max_total_calls"):
        first, second = pipeline.generate(seed=0), pipeline.generate(seed=1)
    assert first.trace.totals()["guided_steps"] == 2 and second.trace.totals()["guided_steps"] == 1


def test_videos_sampled_together_are_scored_concurrently_with_their_own_usage(lvlm_env):
    """Three videos' candidates are in flight at once (one round trip per step, not three), and each video's
    trace counts its own calls; the selections equal scoring one video at a time."""
    with FakeLVLMServer(responder=brightness_judge, latency=0.1) as server:
        cfg = config(server, max_concurrency=32, cache=False)
        registry = isolated_plugins([("f2g-plugin-openai", openai_plugin)]).registry
        prompts = ["a bright video", "a bright mode", "another bright mode"]
        with Pipeline.from_config(cfg, registry=registry) as pipeline:
            many = pipeline.generate_many(prompts, seeds=[4])
            assert server.max_in_flight == 15  # 3 videos × 5 candidates
            alone = [pipeline.generate(prompt=prompt, seed=4) for prompt in prompts]
    for together, single in zip(many, alone, strict=True):
        guided = [s for s in together.trace.steps if s.guided]
        assert len(guided) == 6 and all(s.usage["openai"]["calls"] == 5 for s in guided)
        assert [s.chosen for s in guided] == [s.chosen for s in single.trace.steps if s.guided]


def test_a_total_budget_holds_when_videos_are_scored_at_the_same_time(lvlm_env, judge_server):
    """Three videos' steps check the pipeline-wide budget at once: the calls reserved by each count for the
    others, so 5 candidates × 3 videos under max_total_calls=20 make exactly 20 calls, not 30."""
    cfg = config(judge_server, max_total_calls=20, max_concurrency=32, cache=False)
    registry = isolated_plugins([("f2g-plugin-openai", openai_plugin)]).registry
    with Pipeline.from_config(cfg, registry=registry) as pipeline, pytest.warns(UserWarning, match="max_total_calls"):
        many = pipeline.generate_many(["a bright video", "a bright mode", "another bright mode"], seeds=[5])
    assert judge_server.request_count == 20
    assert sorted(r.trace.totals()["guided_steps"] for r in many) == [1, 1, 2]


PRICED = {"judge": {"input": 7.5, "output": 3.125}}
"""$0.00095 per call of the judge (120 input and 16 output tokens): 50 calls are the issue's $0.0475."""


def _spent(server: FakeLVLMServer) -> float:
    """What the server billed, from its own request log: every request it answered costs one call."""
    return server.request_count * 0.00095


def test_a_cost_budget_smaller_than_one_step_sends_one_call_not_the_step(lvlm_env, judge_server):
    """max_cost_usd 0.001 with 5 candidates per step spent the whole first step ($0.00475, or $0.0475 with n = 50):
    the cost of a call is unknown until one is made, so one goes alone and the rest only if they fit."""
    with pytest.warns(UserWarning, match="budget"):
        result, pipeline = run(config(judge_server, max_cost_usd=0.001, prices=PRICED, cache=False))
    assert judge_server.request_count == 1 and _spent(judge_server) <= 0.001
    assert pipeline.rewards["openai"].usage()["cost_usd"] == pytest.approx(0.00095)
    totals = result.trace.totals()
    assert totals["guided_steps"] == 0 and totals["planned_guided_steps"] == 6 and not result.guided


def test_a_cost_budget_stop_reports_the_calls_made_and_the_steps_planned(lvlm_env, judge_server):
    """$0.0105 pays for two steps of five calls; the third is refused before it is sent. The summary said
    "(2 of 3 guided steps scored) … 15 reward calls" after 10 requests: the refused step counted as calls and as
    the last planned step."""
    from f2g_core.cli import _summary
    from f2g_core.config import load_config

    cfg = config(judge_server, max_cost_usd=0.0105, prices=PRICED, cache=False)
    with pytest.warns(UserWarning, match="budget"):
        result, _ = run(cfg)
    assert judge_server.request_count == 10 and _spent(judge_server) <= 0.0105
    totals = result.trace.totals()
    assert totals["reward_calls"] == judge_server.request_count == totals["usage"]["openai"]["calls"]
    assert (totals["guided_steps"], totals["planned_guided_steps"]) == (2, 6)
    summary = _summary(load_config(cfg), totals)
    assert "(2 of 6 guided steps scored)" in summary and "10 reward calls" in summary


def test_a_zero_budget_makes_no_calls_and_reports_none(lvlm_env, judge_server):
    with pytest.warns(UserWarning, match="budget"):
        result, _ = run(config(judge_server, max_cost_usd=0, prices=PRICED, cache=False))
    totals = result.trace.totals()
    assert judge_server.request_count == 0 and totals["reward_calls"] == 0  # it said 5 reward calls
    assert totals["planned_guided_steps"] == 6 and totals["guided_steps"] == 0


def test_a_call_budget_counts_only_calls_made_across_videos(lvlm_env, judge_server):
    """Two videos sampled together, max_calls 12 each: 2 steps × 5 calls each, 20 requests in all, and the
    traces' reward calls add up to exactly that (they counted refused steps too: 45 recorded, 25 made)."""
    cfg = config(judge_server, max_calls=12, cache=False)
    registry = isolated_plugins([("f2g-plugin-openai", openai_plugin)]).registry
    with Pipeline.from_config(cfg, registry=registry) as pipeline, pytest.warns(UserWarning, match="budget"):
        many = pipeline.generate_many(["a bright video", "a bright mode"], seeds=[3])
    assert judge_server.request_count == 20
    assert sum(r.trace.totals()["reward_calls"] for r in many) == 20
    assert all(r.trace.totals()["planned_guided_steps"] == 6 for r in many)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_cost_usd", -1.0),
        ("max_cost_usd", math.nan),
        ("max_calls", -5),
        ("max_total_cost_usd", math.nan),
        ("max_total_calls", -1),
    ],
)
def test_negative_or_nan_budgets_are_refused_with_the_options(lvlm_env, judge_server, option, value):
    from f2g_core.errors import ConfigError

    registry = isolated_plugins([("f2g-plugin-openai", openai_plugin)]).registry
    with pytest.raises(ConfigError, match=f"rewards\\[0\\].options.{option}"):
        Pipeline.from_config(config(judge_server, **{option: value}), registry=registry)
    assert judge_server.request_count == 0
