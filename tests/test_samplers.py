"""The search methods on the analytic Gaussian-mixture backbone: costs, degenerate cases, theory, batching, traces."""

import json
import math
import types
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from f2g_core.errors import ComponentError
from f2g_core.hookspecs import hookimpl
from f2g_core.interfaces import Reward, RewardBatch
from f2g_core.pipeline import Pipeline
from f2g_core.plugins import Plugins
from f2g_core.registry import Registry
from f2g_core.selection import effective_sample_size, resample


def _config(base: dict[str, Any], method: str, steps: int = 12, **options: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(base))
    data["sampler"]["num_steps"] = steps
    data["guidance"] = {"method": method, "options": options}
    return data


def _run(registry: Registry, config: dict[str, Any], seed: int = 0) -> Any:
    return Pipeline.from_config(config, registry=registry).generate(seed=seed)


METHODS = [
    ("free2guide", {"num_candidates": 4, "start": 1, "num_guided_steps": 3}),
    ("free2guide", {"num_candidates": 3, "num_guided_steps": 4, "lookahead": 2}),
    ("free2guide", {"num_candidates": 5, "num_guided_steps": 2, "initial_candidates": True}),
    ("best-of-n", {"num_candidates": 4}),
    ("smc", {"num_particles": 5, "ess_threshold": 1.0}),
    ("smc", {"num_particles": 3, "resample_every": 3, "stop": 8, "potential": "max"}),
    ("beam", {"num_beams": 2, "num_candidates": 3, "num_guided_steps": 4}),
    ("beam", {"num_beams": 3, "num_candidates": 2, "num_guided_steps": 2, "lookahead": 1}),
    ("none", {}),
]


@pytest.mark.parametrize(("method", "options"), METHODS)
def test_model_calls_match_the_documented_formula(
    counting: Registry, gmm_config: dict[str, Any], method: str, options: dict[str, Any]
) -> None:
    gmm_config["backbone"] = {"type": "counting-mixture"}
    pipeline = Pipeline.from_config(_config(gmm_config, method, **options), registry=counting)
    result = pipeline.generate(seed=2)
    assert pipeline.backbone.denoised == result.trace.totals()["model_calls"]
    assert pipeline.backbone.denoised == pipeline.sampler.model_calls(12)


def test_the_formulas_in_words(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    """T + G(n−1) + G·n·L (+ n−1), N·T, k·T, B·T + G·B·(K−1) + G·B·K·L."""

    def calls(method: str, **options: Any) -> int:
        return Pipeline.from_config(
            _config(gmm_config, method, 50, **options), registry=f2g_registry
        ).sampler.model_calls(50)

    assert calls("free2guide") == 50 + 6 * 4
    assert calls("free2guide", lookahead=2) == 50 + 6 * 4 + 6 * 5 * 2
    assert calls("free2guide", initial_candidates=True) == 50 + 6 * 4 + 4
    assert calls("best-of-n", num_candidates=3) == 150
    assert calls("smc", num_particles=4) == 200
    assert calls("beam", num_beams=2, num_candidates=3) == 100 + 6 * 2 * 2


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("free2guide", {"num_candidates": 1}),
        ("free2guide", {"num_candidates": 1, "lookahead": 2}),
        ("best-of-n", {"num_candidates": 1}),
        ("smc", {"num_particles": 1}),
        ("beam", {"num_beams": 1, "num_candidates": 1}),
    ],
)
def test_one_candidate_or_particle_is_plain_sampling_bit_for_bit(
    f2g_registry: Registry, gmm_config: dict[str, Any], method: str, options: dict[str, Any]
) -> None:
    plain = _run(f2g_registry, _config(gmm_config, "none"), seed=9)
    degenerate = _run(f2g_registry, _config(gmm_config, method, **options), seed=9)
    assert torch.equal(plain.latents, degenerate.latents)


def test_one_beam_is_free2guide(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    free2 = _run(f2g_registry, _config(gmm_config, "free2guide", num_candidates=4), seed=5)
    beam = _run(f2g_registry, _config(gmm_config, "beam", num_beams=1, num_candidates=4, num_guided_steps=6), seed=5)
    assert torch.equal(free2.latents, beam.latents)
    assert [s.chosen for s in free2.trace.steps] == [s.selected[0] if s.selected else None for s in beam.trace.steps]


def test_batched_best_of_n_equals_one_by_one(counting: Registry, gmm_config: dict[str, Any]) -> None:
    gmm_config["backbone"] = {"type": "counting-mixture"}
    batched = Pipeline.from_config(_config(gmm_config, "best-of-n", num_candidates=4), registry=counting)
    config = _config(gmm_config, "best-of-n", num_candidates=4)
    config["guidance"]["chunk_size"] = 1
    single = Pipeline.from_config(config, registry=counting)
    a, b = batched.generate(seed=3), single.generate(seed=3)
    assert set(batched.backbone.batches) == {4} and set(single.backbone.batches) == {1}
    assert torch.equal(a.latents, b.latents) and a.trace.final.combined == b.trace.final.combined  # type: ignore[union-attr]
    plain = _run(counting, _config(gmm_config, "none"), seed=3)
    assert a.trace.final.combined[0] == pytest.approx(  # type: ignore[union-attr]
        -float(((plain.latents[0].numpy() - 2.0) ** 2).sum()), abs=1e-4
    )  # chain 0 is the plain sample


def _two_modes_1d(gmm_config: dict[str, Any]) -> dict[str, Any]:
    gmm_config["backbone"]["options"] = {"means": [[-2.0], [2.0]], "std": 0.3}
    gmm_config["rewards"] = [{"type": "mode-distance", "options": {"target": [2.0]}}]
    return gmm_config


def test_best_of_n_follows_order_statistics(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    """The best of N lands in the target mode unless all N miss it: P = 1 − (1 − ½)^N."""
    config = _config(_two_modes_1d(gmm_config), "best-of-n", 10, num_candidates=3)
    pipeline = Pipeline.from_config(config, registry=f2g_registry)
    hits = [float(pipeline.generate(seed=s).latents[0, 0]) > 0 for s in range(200)]
    assert abs(np.mean(hits) - (1 - 0.5**3)) < 0.07  # binomial sd ≈ 0.023


def test_smc_samples_the_reward_tilted_distribution(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    """SMC with the difference potential targets p(x)·exp(λ r(x)). With r = −(x − 2)², modes ±2 of std s, the
    tilted weight of the +2 mode is 1 / (1 + exp(−16λ / (1 + 2λs²)))."""
    lam, s = 0.05, 0.3
    theory = 1.0 / (1.0 + math.exp(-16 * lam / (1 + 2 * lam * s**2)))
    config = _config(_two_modes_1d(gmm_config), "smc", 10, num_particles=16, lam=lam, final="sample", ess_threshold=0.5)
    pipeline = Pipeline.from_config(config, registry=f2g_registry)
    hits = [float(pipeline.generate(seed=seed).latents[0, 0]) > 0 for seed in range(150)]
    plain = Pipeline.from_config(_config(gmm_config, "none", 10), registry=f2g_registry)
    base = [float(plain.generate(seed=seed).latents[0, 0]) > 0 for seed in range(150)]
    assert abs(np.mean(hits) - theory) < 0.1 and abs(np.mean(base) - 0.5) < 0.12  # theory ≈ 0.69


def test_resampling_draws_ancestors_in_proportion_to_the_weights() -> None:
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    rng = np.random.default_rng(0)
    for scheme in ("multinomial", "systematic"):
        counts = np.zeros(4)
        for _ in range(2000):
            counts += np.bincount(resample(np.log(weights), scheme, rng), minlength=4)
        assert np.allclose(counts / counts.sum(), weights, atol=0.02)
    assert effective_sample_size(np.zeros(5)) == pytest.approx(5.0)
    assert effective_sample_size(np.array([0.0, -np.inf, -np.inf])) == pytest.approx(1.0)
    assert set(resample(np.log([0.5, 0.5, 1e-12, 1e-12]), "systematic", rng)) == {0, 1}


def test_guided_methods_beat_plain_sampling_on_a_two_mode_mixture(
    f2g_registry: Registry, gmm_config: dict[str, Any]
) -> None:
    configs = {
        "none": _config(gmm_config, "none", 10),
        "smc": _config(gmm_config, "smc", 10, num_particles=4),
        "beam": _config(gmm_config, "beam", 10, num_beams=2, num_candidates=2, num_guided_steps=4),
        "lookahead": _config(gmm_config, "free2guide", 10, num_candidates=3, num_guided_steps=4, lookahead=2),
    }
    share = {}
    for name, config in configs.items():
        pipeline = Pipeline.from_config(config, registry=f2g_registry)
        points = np.stack([pipeline.generate(seed=s).latents[0].numpy() for s in range(60)])
        share[name] = float((np.linalg.norm(points - 2.0, axis=1) < 1.0).mean())
    assert all(share[name] > share["none"] + 0.2 for name in ("smc", "beam", "lookahead")), share


def test_trace_records_chains_parents_scores_and_ess(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    result = _run(f2g_registry, _config(gmm_config, "smc", 8, num_particles=4, ess_threshold=1.0))
    data = result.trace.to_dict()
    steps = data["steps"]
    assert len(steps) == 8 and all(len(s["parents"]) == 4 and len(s["chains"]) == 4 for s in steps)
    assert all(len(s["scores"]["mode-distance"]) == 4 and s["ess"] is not None for s in steps)
    assert any(s["resampled"] for s in steps) and data["options"]["num_particles"] == 4
    assert data["final"]["chosen"] is not None and data["totals"]["guided_steps"] == 8
    beam = _run(f2g_registry, _config(gmm_config, "beam", 8, num_beams=2, num_candidates=3, num_guided_steps=2))
    first = beam.trace.steps[0]
    assert len(first.combined) == 6 and len(first.parents) == 2 and all(0 <= c < 6 for c in first.selected)
    assert all(first.combined[c] is not None for c in first.selected)


def test_initial_candidates_scores_n_initial_noises(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    result = _run(f2g_registry, _config(gmm_config, "free2guide", num_candidates=4, initial_candidates=True))
    initial = result.trace.steps[0]
    assert initial.phase == "initial" and len(initial.combined) == 4 and initial.chosen is not None
    assert initial.model_calls == 4 and result.trace.totals()["guided_steps"] == 7


# -------------------------------------------------------------------------------------- several videos at once


@pytest.mark.parametrize(("method", "options"), METHODS)
def test_generate_many_equals_one_video_at_a_time(
    counting: Registry, gmm_config: dict[str, Any], method: str, options: dict[str, Any]
) -> None:
    gmm_config["backbone"] = {"type": "counting-mixture"}
    pipeline = Pipeline.from_config(_config(gmm_config, method, **options), registry=counting)
    many = pipeline.generate_many(["upper right", "lower left"], seeds=[0, 1])
    assert [(r.prompt, r.seed) for r in many] == [
        ("upper right", 0),
        ("upper right", 1),
        ("lower left", 0),
        ("lower left", 1),
    ]
    assert max(pipeline.backbone.batches) >= 4 * pipeline.sampler.num_chains()  # shared denoiser calls
    for result in many:
        alone = pipeline.generate(result.prompt, seed=result.seed)
        assert torch.equal(result.latents, alone.latents)
        assert result.trace.totals()["model_calls"] == alone.trace.totals()["model_calls"]
        assert [s.combined for s in result.trace.steps] == [s.combined for s in alone.trace.steps]


# ----------------------------------------------------------------------------------- misbehaving rewards


class Odd(Reward):
    """Returns whatever the test puts in ``answer``."""

    name = "odd"
    answer: ClassVar[Any] = None

    def score(self, batch: RewardBatch) -> Any:
        answer = type(self).answer
        return answer(batch) if callable(answer) else answer


def _odd(register_plugin: Callable[..., Plugins], answer: Any) -> Registry:
    reward = type("OddReward", (Odd,), {"answer": staticmethod(answer) if callable(answer) else answer})

    @hookimpl
    def register_rewards(register):  # type: ignore[no-untyped-def]
        register(reward)

    return register_plugin(types.SimpleNamespace(register_rewards=register_rewards)).registry


async def _coroutine() -> list[float]:
    return [1.0]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (None, "None instead of 5 scores"),
        ([1.0, 2.0], "2 scores for 5 candidates"),
        (["good"] * 5, "non-numeric scores such as 'good'"),
        (lambda batch: _coroutine(), "a coroutine from a synchronous score()"),
        ("5", "a str instead of a sequence"),
    ],
)
def test_a_malformed_reward_result_scores_nan_with_one_warning(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any], answer: Any, expected: str
) -> None:
    registry = _odd(register_plugin, answer)
    config = _config(gmm_config, "free2guide", num_candidates=5, num_guided_steps=3)
    config["rewards"] = [{"type": "odd"}]
    with pytest.warns(UserWarning, match="reward 'odd' returned") as caught:
        result = _run(registry, config, seed=4)
    assert sum(expected in str(w.message) for w in caught) == 1  # one warning for three failing steps
    assert sum(expected in e for e in result.trace.events) == 3
    totals = result.trace.totals()
    assert totals["planned_guided_steps"] == 3 and totals["guided_steps"] == 0 and not result.guided
    plain = _run(registry, _config(gmm_config, "none"), seed=4)
    assert torch.equal(plain.latents, result.latents)


def test_a_slow_sync_reward_times_out_as_nan(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any]
) -> None:
    import time

    registry = _odd(register_plugin, lambda batch: time.sleep(0.3) or [0.0] * len(batch))
    config = _config(gmm_config, "free2guide", num_candidates=2, num_guided_steps=1)
    config["rewards"] = [{"type": "odd"}]
    config["guidance"]["reward_timeout_s"] = 0.05
    with pytest.warns(UserWarning, match="took longer than guidance.reward_timeout_s=0.05"):
        result = _run(registry, config)
    assert result.trace.totals()["guided_steps"] == 0 and result.trace.steps[0].fallback


def test_a_component_error_from_a_reward_stops_the_run(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any]
) -> None:
    def refuse(batch: RewardBatch) -> list[float]:
        raise ComponentError("HTTP 401: the API key was rejected; set OPENAI_API_KEY")

    registry = _odd(register_plugin, refuse)
    config = _config(gmm_config, "free2guide")
    config["rewards"] = [{"type": "odd"}]
    with pytest.raises(ComponentError, match="reward 'odd': HTTP 401: the API key was rejected"):
        _run(registry, config)


def test_f2g_list_samplers_shows_the_built_ins() -> None:
    from typer.testing import CliRunner

    from f2g_core.cli import app

    done = CliRunner().invoke(app, ["list", "samplers", "--options"], env={"COLUMNS": "250"})  # no wrapping
    assert done.exit_code == 0, done.output
    for name in ("free2guide", "best-of-n", "smc", "beam", "none", "num_particles", "lookahead", "initial_candidates"):
        assert name in done.output


def test_a_third_party_method_is_a_plugin_like_any_reward(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any]
) -> None:
    """The example of docs/samplers.md, executed as written."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "samplers.md").read_text()
    source = text.split("## Writing a method")[1].split("```python\n")[1].split("```")[0]
    module = types.ModuleType("greedy_plugin")
    exec(compile(source, "docs/samplers.md", "exec"), module.__dict__)
    registry = register_plugin(module, name="greedy-plugin").registry
    assert "greedy" in registry.names("sampler")
    pipeline = Pipeline.from_config(_config(gmm_config, "greedy", 8, num_candidates=3), registry=registry)
    result = pipeline.generate(seed=1)
    assert result.trace.totals()["model_calls"] == pipeline.sampler.model_calls(8) == 8 + 7 * 2
    assert result.trace.totals()["guided_steps"] == 7
    for step in result.trace.steps[:7]:
        assert step.chosen == int(np.nanargmax(np.array(step.combined, dtype=float)))
