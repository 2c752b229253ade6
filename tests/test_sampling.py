"""The guided-sampling loop on the analytic Gaussian-mixture backbone (exact denoiser, no weights)."""

import json
import math
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from f2g_core.errors import BudgetExceeded
from f2g_core.gaussian_mixture import decode_point
from f2g_core.hookspecs import hookimpl
from f2g_core.interfaces import AsyncReward, Reward, RewardBatch
from f2g_core.pipeline import Pipeline, generate
from f2g_core.plugins import Plugins
from f2g_core.registry import Registry

pytestmark = pytest.mark.plugin_independent  # never loads the installed plugins (tests/conftest.py)


def _pipeline(config: dict[str, Any], registry: Registry, method: str | None = None, **options: Any) -> Pipeline:
    """``config`` with guidance method and options changed (``chunk_size`` and ``key_frames`` are not options)."""
    data = json.loads(json.dumps(config))
    for shared in ("chunk_size", "key_frames", "reward_timeout_s"):
        if shared in options:
            data["guidance"][shared] = options.pop(shared)
    if method is not None and method != data["guidance"].get("method", "free2guide"):
        data["guidance"] = {**data["guidance"], "method": method, "options": {}}
    data["guidance"].setdefault("options", {}).update(options)
    return Pipeline.from_config(data, registry=registry)


@pytest.mark.parametrize(("n", "k", "steps"), [(5, 6, 20), (3, 2, 10), (10, 6, 50)])
def test_model_calls_are_t_plus_k_times_n_minus_1(
    counting: Registry, gmm_config: dict[str, Any], n: int, k: int, steps: int
) -> None:
    gmm_config["backbone"] = {"type": "counting-mixture", "options": {"num_frames": 16}}
    gmm_config["sampler"]["num_steps"] = steps
    pipeline = _pipeline(gmm_config, counting, num_candidates=n, num_guided_steps=k)
    result = pipeline.generate()
    backbone = pipeline.backbone
    assert backbone.denoised == steps + k * (n - 1) == result.trace.totals()["model_calls"]
    assert backbone.decoded == k * n * 4 + 16  # key frames only, then one full decode
    assert result.trace.totals()["frames_decoded"] == backbone.decoded
    assert result.trace.totals()["reward_calls"] == k * n


def test_chunking_splits_denoiser_batches_without_changing_the_result(
    counting: Registry, gmm_config: dict[str, Any]
) -> None:
    gmm_config["backbone"] = {"type": "counting-mixture"}
    whole = _pipeline(gmm_config, counting, num_candidates=5)
    chunked = _pipeline(gmm_config, counting, num_candidates=5, chunk_size=2)
    a, b = whole.generate(seed=4), chunked.generate(seed=4)
    assert max(chunked.backbone.batches) == 2 and max(whole.backbone.batches) == 5
    torch.testing.assert_close(a.latents, b.latents)


def test_same_seed_same_video_and_different_seed_different_video(
    f2g_registry: Registry, gmm_config: dict[str, Any]
) -> None:
    pipeline = _pipeline(gmm_config, f2g_registry)
    a, b, c = pipeline.generate(seed=7), pipeline.generate(seed=7), pipeline.generate(seed=8)
    assert torch.equal(a.latents, b.latents) and np.array_equal(a.video, b.video)
    assert not torch.equal(a.latents, c.latents)


@pytest.mark.parametrize("guidance", [{"num_candidates": 1}, {"num_guided_steps": 0}])
def test_one_candidate_or_no_guided_step_reproduces_plain_sampling(
    f2g_registry: Registry, gmm_config: dict[str, Any], guidance: dict[str, Any]
) -> None:
    plain = _pipeline(gmm_config, f2g_registry, method="none").generate(seed=11)
    degenerate = _pipeline(gmm_config, f2g_registry, **guidance).generate(seed=11)
    assert torch.equal(plain.latents, degenerate.latents)


def test_best_of_n_sample_zero_is_the_plain_sample(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    plain = _pipeline(gmm_config, f2g_registry, method="none").generate(seed=3)
    best1 = _pipeline(gmm_config, f2g_registry, method="best-of-n", num_candidates=1).generate(seed=3)
    assert torch.equal(plain.latents, best1.latents)
    best = _pipeline(gmm_config, f2g_registry, method="best-of-n", num_candidates=4).generate(seed=3)
    assert best.trace.totals()["model_calls"] == 4 * gmm_config["sampler"]["num_steps"]
    final = best.trace.final
    assert final is not None and final.chosen == int(np.nanargmax(np.array(final.combined, dtype=float)))


# ------------------------------------------------------------------------------------ failures are handled


class Scripted(Reward):
    """Returns scripted scores per call (or raises), to test failure handling."""

    name = "scripted"
    script: ClassVar[list[Any]] = []

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.calls = 0

    def score(self, batch: RewardBatch) -> list[float]:
        item = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(item, BaseException):
            raise item
        return list(item)[: len(batch)]


def _scripted_pipeline(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any], script: list[Any]
) -> Pipeline:
    reward = type("ScriptedReward", (Scripted,), {"script": script})

    @hookimpl
    def register_rewards(register):  # type: ignore[no-untyped-def]
        register(reward)

    registry = register_plugin(types.SimpleNamespace(register_rewards=register_rewards)).registry
    gmm_config["rewards"] = [{"type": "scripted"}]
    return _pipeline(gmm_config, registry, num_candidates=3, num_guided_steps=3)


def test_nan_never_wins(register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any]) -> None:
    pipeline = _scripted_pipeline(register_plugin, gmm_config, [[math.nan, 1.0, 5.0], [9.0, math.nan, 2.0]])
    steps = [s for s in pipeline.generate().trace.steps if s.guided]
    assert [s.chosen for s in steps] == [2, 0, 0]
    assert steps[0].scores["scripted"] == [None, 1.0, 5.0]


def test_all_candidates_failing_falls_back_to_the_unguided_transition(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any], f2g_registry: Registry
) -> None:
    pipeline = _scripted_pipeline(register_plugin, gmm_config, [[math.nan] * 3])
    result = pipeline.generate(seed=5)
    assert all(s.fallback and s.chosen == 0 for s in result.trace.steps if s.guided)
    assert result.trace.totals()["fallbacks"] == 3 and any("every candidate failed" in e for e in result.trace.events)
    plain = _pipeline(gmm_config | {"rewards": [{"type": "mode-distance"}]}, f2g_registry, method="none").generate(
        seed=5
    )
    assert torch.equal(result.latents, plain.latents)


def test_a_raising_reward_is_reported_and_the_video_still_finishes(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any]
) -> None:
    pipeline = _scripted_pipeline(register_plugin, gmm_config, [RuntimeError("server down")])
    with pytest.warns(UserWarning, match="server down"):
        result = pipeline.generate()
    assert result.video.shape == (4, 4, 4, 3) and any("server down" in e for e in result.trace.events)


def test_budget_exhaustion_stops_guidance_and_finishes_unguided(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any]
) -> None:
    pipeline = _scripted_pipeline(register_plugin, gmm_config, [[0.0, 1.0, 2.0], BudgetExceeded("max_calls=3 reached")])
    with pytest.warns(UserWarning, match="guidance stopped"):
        result = pipeline.generate()
    guided = [s for s in result.trace.steps if s.guided]
    assert len(guided) == 2 and guided[0].chosen == 2 and guided[1].fallback and "budget" in guided[1].fallback
    assert pipeline.rewards["scripted"].calls == 2  # the third guided step was never scored
    assert result.trace.totals()["model_calls"] == 20 + 2 * 2


class SlowAsync(AsyncReward):
    """Sleeps per candidate and records how many candidates were scored at once."""

    name = "slow-async"
    in_flight = 0
    peak = 0

    async def score_candidate(self, batch: RewardBatch, index: int) -> float:
        import asyncio

        type(self).in_flight += 1
        type(self).peak = max(type(self).peak, type(self).in_flight)
        await asyncio.sleep(0.01)
        type(self).in_flight -= 1
        return float(-abs(decode_point(batch, 2)[index] - 2.0).sum())

    def usage(self) -> dict[str, float]:
        return {"calls": float(type(self).peak)}

    def trace_info(self) -> dict[str, str]:
        return {"template": "slow@1"}


def test_async_rewards_run_concurrently_under_their_limit(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any]
) -> None:
    @hookimpl
    def register_rewards(register):  # type: ignore[no-untyped-def]
        register(SlowAsync)

    registry = register_plugin(types.SimpleNamespace(register_rewards=register_rewards)).registry
    gmm_config["rewards"] = [{"type": "slow-async", "options": {"max_concurrency": 3}}, {"type": "mode-distance"}]
    result = _pipeline(gmm_config, registry, num_candidates=8, num_guided_steps=2).generate()
    assert SlowAsync.peak == 3
    assert set(result.trace.steps[0].scores) == {"slow-async", "mode-distance"}
    assert "slow-async" in result.trace.steps[0].usage
    assert result.trace.rewards == {"slow-async": {"template": "slow@1"}, "mode-distance": {}}
    assert result.trace.to_dict()["rewards"]["slow-async"]["template"] == "slow@1"


class PerRunAsync(SlowAsync):
    """SlowAsync that keeps a call counter per video run, so its videos' batches may be scored at once."""

    name = "per-run-async"
    runs: ClassVar[dict[int, float]] = {}

    async def score_candidate(self, batch: RewardBatch, index: int) -> float:
        type(self).runs[batch.run] = type(self).runs.get(batch.run, 0.0) + 1
        return await super().score_candidate(batch, index)

    def run_usage(self, run: int) -> dict[str, float]:
        return {"calls": type(self).runs.get(run, 0.0)}


@pytest.mark.parametrize(("reward", "peak"), [(SlowAsync, 4), (PerRunAsync, 12)])
def test_videos_batches_overlap_only_for_rewards_that_count_per_run(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any], reward: type[SlowAsync], peak: int
) -> None:
    @hookimpl
    def register_rewards(register):  # type: ignore[no-untyped-def]
        register(reward)

    registry = register_plugin(types.SimpleNamespace(register_rewards=register_rewards)).registry
    gmm_config["rewards"] = [{"type": reward.name, "options": {"max_concurrency": 64}}]
    reward.peak = reward.in_flight = 0
    pipeline = _pipeline(gmm_config, registry, num_candidates=4, num_guided_steps=2)
    results = pipeline.generate_many(["upper right", "lower left", "anywhere"], seeds=[0])
    assert reward.peak == peak  # 3 videos × 4 candidates at once, or one video's 4 at a time
    if reward is PerRunAsync:
        for result in results:  # each video's trace has its own run's calls, not the others'
            assert [s.usage[reward.name]["calls"] for s in result.trace.steps if s.guided] == [4.0, 4.0]


# ----------------------------------------------------------------------- the sampler samples the right law


def _share_near(pipeline: Pipeline, target: np.ndarray, seeds: range) -> float:
    points = np.stack([pipeline.generate(seed=s).latents[0].numpy() for s in seeds])
    return float((np.linalg.norm(points - target, axis=1) < 1.0).mean())


def test_plain_sampling_matches_the_mixture(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    gmm_config["backbone"]["options"] = {"means": [[-2.0, 0.0], [2.0, 0.0]], "weights": [0.3, 0.7], "std": 0.5}
    pipeline = _pipeline(gmm_config, f2g_registry, method="none")
    points = np.stack([pipeline.generate(seed=s).latents[0].numpy() for s in range(400)])
    right = points[:, 0] > 0
    assert abs(right.mean() - 0.7) < 0.07  # binomial sd ≈ 0.023
    assert abs(points[right, 0].mean() - 2.0) < 0.15 and abs(points[right].std(axis=0) - 0.5).max() < 0.12


def test_guidance_raises_the_preferred_modes_share_more_with_larger_n_and_smaller_lambda(
    f2g_registry: Registry, gmm_config: dict[str, Any]
) -> None:
    """Two equally likely modes; the reward prefers (2, 2). Plain sampling finds it about half the time."""
    gmm_config["sampler"]["num_steps"] = 10
    gmm_config["guidance"]["options"]["num_guided_steps"] = 4
    target, seeds = np.array([2.0, 2.0]), range(100)

    def share(**guidance: Any) -> float:
        return _share_near(_pipeline(gmm_config, f2g_registry, **guidance), target, seeds)

    plain, n2, n8 = share(method="none"), share(num_candidates=2), share(num_candidates=8)
    hot = share(num_candidates=8, selection="soft", temperature=20.0)
    cold = share(num_candidates=8, selection="soft", temperature=1.0)
    assert 0.3 < plain < 0.6  # the target mode has prior 0.5
    assert plain + 0.15 < n2 < n8  # guidance pays, and more candidates pay more
    assert hot + 0.15 < cold  # a smaller λ concentrates on the better candidates


def test_run_directory_has_every_artefact(f2g_registry: Registry, gmm_config: dict[str, Any], tmp_path: Path) -> None:
    gmm_config["output"] = {"dir": str(tmp_path), "formats": ["mp4", "gif"]}
    gmm_config["backbone"]["options"] = {"frame_size": 6, "num_frames": 8}
    result = generate(gmm_config, registry=f2g_registry)
    assert result.directory is not None and result.directory.parent == tmp_path
    names = sorted(p.name for p in result.directory.iterdir())
    assert names == ["config.yaml", "grid.png", "trace.json", "video.gif", "video.mp4"]
    trace = json.loads((result.directory / "trace.json").read_text())
    guided = [s for s in trace["steps"] if s.get("guided")]
    assert len(guided) == 6 and len(guided[0]["scores"]["mode-distance"]) == 5 and "chosen" in guided[0]
    assert trace["totals"]["model_calls"] == 20 + 6 * 4 and trace["key_frames"] == [0, 2, 5, 7]
    import imageio.v3 as iio

    assert iio.imread(result.directory / "video.mp4", plugin="pyav").shape[0] == 8
