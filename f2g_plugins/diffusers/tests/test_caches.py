"""diffusers' feature caches with state that follows the chains, at tiny size: config checks, bit-for-bit equality
with the uncached run when nothing is skipped, skipping counted, state permuted with the rows, cached drafts."""

from __future__ import annotations

from typing import Any

import f2g_plugin_diffusers.plugin as plugin
import numpy as np
import pytest
import torch
from f2g_plugin_diffusers import tiny
from f2g_plugin_diffusers.unet import ModelScopeBackbone
from f2g_plugin_diffusers.wan import WanBackbone
from pydantic import ValidationError

from f2g_core.errors import ConfigError
from f2g_core.pipeline import Pipeline, RunResult
from f2g_core.sampling import Observer, Tools, Video
from f2g_core.testing import isolated_plugins
from f2g_core.trace import RunTrace

SMALL = {"model": "tiny", "height": 32, "width": 32, "num_frames": 9, "max_sequence_length": 16, "device": "cpu"}
ALWAYS_SKIP = {"type": "first-block", "threshold": 1e9}
"""After the first full call, every call reuses the cached tail residuals: the output then depends on the state."""

METHODS: dict[str, dict[str, Any]] = {
    "free2guide": {"num_candidates": 2, "start": 0, "num_guided_steps": 3},
    "smc": {"num_particles": 3, "ess_threshold": 1.0, "resampling": "multinomial", "lam": 1000.0},
    "beam": {"num_beams": 2, "num_candidates": 2, "start": 0, "num_guided_steps": 3},
    "best-of-n": {"num_candidates": 2},
    "prune": {"num_candidates": 3, "checkpoints": [1]},
    "draft": {"num_candidates": 3, "num_commits": 2, "draft_steps": 2},
    "none": {},
}


def _run(method: str, cache: dict[str, Any] | None, options: dict[str, Any] | None = None) -> tuple[RunResult, Any]:
    registry = isolated_plugins([("f2g-plugin-diffusers", plugin)]).registry
    backbone = {**SMALL, "guidance_scale": 5.0, **({"cache": cache} if cache else {})}
    config = {
        "prompt": "a red car driving at night",
        "negative_prompt": "blurry",
        "seed": 3,
        "backbone": {"type": "wan", "options": backbone},
        "rewards": [{"type": "brightness"}],
        "sampler": {"num_steps": 4, "eta": 1.0},
        "guidance": {"method": method, "options": options if options is not None else METHODS[method]},
    }
    config["guidance"]["key_frames"] = [0]  # type: ignore[index]
    with Pipeline.from_config(config, registry=registry) as pipeline:
        result = pipeline.generate()
        return result, pipeline.backbone._cache  # type: ignore[attr-defined]


def _trace() -> RunTrace:
    return RunTrace(prompt="a cat", seed=0, method="test", num_steps=4, key_frames=[0])


def _permuted(result: RunResult) -> bool:
    """Whether some step carried on other rows than 0, 1, … in order: a parent or a candidate other than the
    first was kept (candidates duplicate their parent's row, so any selection among them reorders rows)."""
    return any(
        record.parents != list(range(len(record.parents))) or any(record.selected or [])
        for record in result.trace.steps
    )


# ------------------------------------------------------------------------------------------- config checks


@pytest.mark.parametrize(
    ("backbone", "cache", "message"),
    [
        (WanBackbone, {"type": "teacache"}, "first-block"),
        (WanBackbone, {"type": "pab", "threshold": 0.1}, "threshold do\\(es\\) not apply to type 'pab'"),
        (ModelScopeBackbone, {"type": "first-block"}, "not supported by this model's denoiser; drop `cache`"),
    ],
)
def test_bad_cache_is_rejected_at_config_time(backbone: Any, cache: dict[str, Any], message: str) -> None:
    options = {**SMALL, "num_frames": 8} if backbone is ModelScopeBackbone else SMALL
    with pytest.raises(ValidationError, match=message):
        backbone.Options(**options, cache=cache)


def test_ltx_offers_no_faster_cache_and_an_old_diffusers_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from diffusers import hooks
    from f2g_plugin_diffusers.ltx import LTXVideoBackbone

    with pytest.raises(ValidationError, match="use one of first-block, taylorseer, pab"):
        LTXVideoBackbone.Options(model="tiny", cache={"type": "faster"})
    monkeypatch.delattr(hooks, "TaylorSeerCacheConfig")
    with pytest.raises(ValidationError, match=r"TaylorSeerCacheConfig, which diffusers .* lacks; pip install -U"):
        WanBackbone.Options(**SMALL, cache={"type": "taylorseer"})


# --------------------------------------------------------------------------- nothing skipped: bit for bit


# beam's run is the slowest and adds no path: its duplicated and selected rows are those of
# test_cached_state_follows_resampled_and_duplicated_rows_as_if_each_chain_ran_alone, so it is `heavy`.
@pytest.mark.parametrize("method", ["free2guide", "smc", pytest.param("beam", marks=pytest.mark.heavy)])
def test_threshold_zero_equals_the_uncached_run_bit_for_bit(method: str) -> None:
    plain, _ = _run(method, None)
    cached, cache = _run(method, {"type": "first-block", "threshold": 0.0})
    assert _permuted(cached)  # rows were selected / resampled between steps
    assert cache.calls > 0 and cache.full_calls == cache.calls  # under the cache, never skipping
    torch.testing.assert_close(cached.latents, plain.latents, rtol=0, atol=0)
    assert [r.parents for r in cached.trace.steps] == [r.parents for r in plain.trace.steps]


# ------------------------------------------------------------------------------- skipping, every method


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_skipping_cache_runs_every_method_end_to_end(method: str) -> None:
    result, cache = _run(method, {"type": "first-block", "threshold": 0.3})
    assert np.isfinite(result.video).all() and result.video.shape == (9, 32, 32, 3)
    calls = sum(record.model_calls for record in [*result.trace.steps, *filter(None, [result.trace.final])])
    assert cache.calls == calls  # every denoiser call ran under the cache (one model call per row here)
    assert 0 < cache.full_calls < cache.calls  # some calls skipped the remaining blocks


# --------------------------------------------------------------------------- the state follows the rows


def _alone(root: torch.Tensor, rows: torch.Tensor, levels: tuple[int, int], cache: dict[str, Any]) -> torch.Tensor:
    """x̂0 of ``rows`` at ``levels[1]`` on a fresh cached backbone that first saw only their root chain (at
    ``levels[0]``): what each chain gets when it runs alone."""
    backbone = WanBackbone(WanBackbone.Options(**SMALL, cache=cache), pipeline=tiny.wan())
    cond = backbone.encode_prompt("a cat", "blurry", 5.0)
    schedule = backbone.schedule(4)
    backbone.follow_rows(np.array([-1]))
    backbone.denoise(root[None], schedule.level(levels[0]), cond)
    backbone.follow_rows(np.zeros(len(rows), dtype=np.int64))
    return backbone.denoise(rows, schedule.level(levels[1]), cond)


@pytest.mark.parametrize("cache", [ALWAYS_SKIP, {"type": "pab", "skip_range": 9, "timestep_range": (0, 1001)}])
def test_cached_state_follows_resampled_and_duplicated_rows_as_if_each_chain_ran_alone(cache: dict[str, Any]) -> None:
    backbone = WanBackbone(WanBackbone.Options(**SMALL, cache=cache), pipeline=tiny.wan())
    video = Video(prompt="a cat", seed=0, cond=backbone.encode_prompt("a cat", "blurry", 5.0), trace=_trace())
    tools = Tools(backbone, backbone.schedule(4), [video], eta=1.0, key_frames=[0])
    Observer(tools).begin(0)
    roots = tools.with_x0(tools.start(3).population, 0)  # the first call computes in full
    resampled = roots.take(np.array([2, 0, 0]))  # chain 1 dropped, chain 0 duplicated
    candidates = tools.propose(resampled, 0, 2).population  # rows descend from roots 2, 2, 0, 0, 0, 0
    assert candidates.x0 is not None
    if cache["type"] == "first-block":  # the first call computed in full, the candidates' skipped the tail
        assert (backbone._cache.full_calls, backbone._cache.calls) == (3, 9)  # type: ignore[union-attr]
    for root, rows in ((2, [0, 1]), (0, [2, 3, 4, 5])):
        alone = _alone(roots.x[root], candidates.x[rows], (0, 1), cache)
        torch.testing.assert_close(candidates.x0[rows], alone, rtol=1e-5, atol=1e-5)
    wrong = _alone(roots.x[1], candidates.x[:2], (0, 1), cache)  # the state of another chain changes the result
    assert (wrong - candidates.x0[:2]).abs().max() > 1e-3
    # one more hop: a selection of the candidates, moved on and denoised at the next level
    kept = candidates.take(np.array([5, 0]))
    moved = tools.with_x0(tools.plain(kept, 1).population, 2)
    assert moved.x0 is not None
    for row, root in ((0, 0), (1, 2)):
        alone = _alone(roots.x[root], moved.x[row : row + 1], (0, 2), cache)
        torch.testing.assert_close(moved.x0[row : row + 1], alone, rtol=1e-5, atol=1e-5)


def test_a_chunked_batch_keeps_each_rows_state() -> None:
    whole = WanBackbone(WanBackbone.Options(**SMALL, cache=ALWAYS_SKIP), pipeline=tiny.wan())
    chunked = WanBackbone(WanBackbone.Options(**SMALL, cache=ALWAYS_SKIP), pipeline=tiny.wan())
    outputs = []
    for backbone, chunk in ((whole, None), (chunked, 1)):
        video = Video(prompt="a cat", seed=0, cond=backbone.encode_prompt("a cat", None, 5.0), trace=_trace())
        tools = Tools(backbone, backbone.schedule(4), [video], eta=1.0, key_frames=[0], chunk_size=chunk)
        Observer(tools).begin(0)
        start = tools.with_x0(tools.start(3).population, 0)
        outputs.append(tools.propose(start.take(np.array([1, 2, 1])), 0, 1).population.x0)
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-5, atol=1e-5)


def test_faster_cache_is_reset_when_the_rows_change_and_kept_when_they_do_not() -> None:
    cache = {"type": "faster", "skip_range": 2, "timestep_range": (-1.0, 1001.0)}
    backbone = WanBackbone(WanBackbone.Options(**SMALL, cache=cache), pipeline=tiny.wan())
    plain = WanBackbone(WanBackbone.Options(**SMALL), pipeline=tiny.wan())
    cond, schedule = backbone.encode_prompt("a cat", "blurry", 5.0), backbone.schedule(4)
    x = torch.randn((2, *backbone.latent_shape()), generator=torch.Generator().manual_seed(0))
    backbone.follow_rows(np.array([-1, -1]))
    backbone.denoise(x, schedule.level(0), cond)
    backbone.follow_rows(np.array([1, 0]))  # permuted: FasterCache's state cannot follow, so it starts afresh
    reset = backbone.denoise(x.flip(0), schedule.level(1), cond)
    uncached = plain.denoise(x.flip(0), schedule.level(1), plain.encode_prompt("a cat", "blurry", 5.0))
    torch.testing.assert_close(reset, uncached, rtol=0, atol=0)
    state = backbone.pipe.transformer._diffusers_hook.get_hook("faster_cache_denoiser").state
    assert state.iteration == 1
    backbone.follow_rows(np.array([0, 1]))  # the same rows again: the state is kept
    backbone.denoise(x.flip(0), schedule.level(2), cond)
    assert state.iteration == 2


# ----------------------------------------------------------------------------------------- cached drafts


def test_drafts_run_under_the_cache_and_commits_without_it() -> None:
    options = {"num_candidates": 3, "num_commits": 3, "draft_steps": 4}  # every draft committed: same final choice
    uncached, _ = _run("draft", None, options)
    cached, cache = _run("draft", {**ALWAYS_SKIP, "use": "drafts"}, {**options, "draft_mode": "backbone"})
    assert cache.calls == 3 * 3  # the drafts' three sub-steps per chain; level 0 and the commits ran uncached
    assert cache.full_calls < cache.calls and not cache.enabled  # drafts skipped blocks; hooks removed afterwards
    torch.testing.assert_close(cached.latents, uncached.latents, rtol=0, atol=0)  # commits at full quality


def test_backbone_draft_mode_needs_a_draft_cache() -> None:
    with pytest.raises(ConfigError, match=r"offers no cheap draft mode; use draft_mode: few-step"):
        _run("draft", {"type": "first-block"}, {**METHODS["draft"], "draft_mode": "backbone"})
