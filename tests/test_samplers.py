"""The search methods on the analytic Gaussian-mixture backbone: costs, degenerate cases, theory, batching, traces."""

import inspect
import json
import math
import types
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from f2g_core.errors import ComponentError, ConfigError
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
    ("prune", {"num_candidates": 8}),
    ("prune", {"num_candidates": 5, "keep": 0.4, "checkpoints": [0, 3, 10]}),
    ("prune", {"num_candidates": 4, "keep": 0.5, "checkpoints": [2, 4, 6, 8]}),
    ("prune", {"num_candidates": 3, "checkpoints": []}),
    ("draft", {"num_candidates": 6}),
    ("draft", {"num_candidates": 5, "num_commits": 2, "draft_steps": 1}),
    ("draft", {"num_candidates": 4, "num_commits": 4, "draft_steps": 12}),
    ("smc", {"num_particles": 8, "final_particles": 2}),
    ("smc", {"num_particles": 6, "final_particles": 1, "resample_every": 3, "stop": 9, "resampling": "ssp"}),
    ("smc", {"num_particles": 4, "tempering": "sigma", "resampling": "ssp"}),
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


def wide_console(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    """Print the CLI's tables at ``columns`` wide: rich fixes a console's width from COLUMNS when it is made (at
    import; pytest-xdist's workers set COLUMNS=80), so setting COLUMNS for the invocation alone is not enough."""
    from rich.console import Console

    import f2g_core.cli

    monkeypatch.setattr(f2g_core.cli, "console", Console(soft_wrap=True, width=columns))


def test_f2g_list_samplers_shows_the_built_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from f2g_core.cli import app

    wide_console(monkeypatch, 250)  # no wrapping
    done = CliRunner().invoke(app, ["list", "samplers", "--options"])
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


SAMPLER_CLASS_LINES = 40
"""Issue 22: a built-in method's class reads in one screen; what methods repeat lives in the toolbox."""


def test_every_built_in_sampler_class_is_at_most_40_lines(f2g_registry: Registry) -> None:
    """Counted from the ``class`` line to the class's last line, docstring, blank lines and comments included; the
    inner ``Options`` (option fields and their descriptions, the documentation of each setting) is not counted."""
    sizes = {}
    for name in f2g_registry.names("sampler"):
        cls = f2g_registry.get("sampler", name).cls
        if not cls.__module__.startswith("f2g_core.default_plugins."):
            continue
        lines = len(inspect.getsourcelines(cls)[0])
        if "Options" in vars(cls):
            lines -= len(inspect.getsourcelines(vars(cls)["Options"])[0])
        sizes[name] = lines
    assert {"none", "free2guide", "best-of-n", "smc", "beam", "prune", "draft"} <= set(sizes)
    assert {name: lines for name, lines in sizes.items() if lines > SAMPLER_CLASS_LINES} == {}, sizes


# ---------------------------------------------------------------- prune, draft and the SMC funnel / tempering / ssp


def test_the_formulas_in_numbers(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    def calls(method: str, **options: Any) -> int:
        return Pipeline.from_config(
            _config(gmm_config, method, 50, **options), registry=f2g_registry
        ).sampler.model_calls(50)

    # checkpoints at steps 12, 24, 37: levels 0-13 with 8 chains, 14-25 with 4, 26-38 with 2, 39-49 with 1
    assert calls("prune", num_candidates=8) == 14 * 8 + 12 * 4 + 13 * 2 + 11 * 1
    assert calls("prune", num_candidates=8, checkpoints=[]) == 8 * 50  # no checkpoint: best-of-8
    assert calls("draft", num_candidates=8, draft_steps=4, num_commits=2) == 8 * 4 + 2 * 49
    assert calls("smc", num_particles=4, final_particles=4) == 200
    # scored steps 45-49 shrink 6 → 5 → 4 → 3 → 2 → 1; level ℓ ≥ 46 is denoised by step ℓ − 1 before its resampling
    assert calls("smc", num_particles=6, final_particles=1, start=45) == 46 * 6 + 6 + 5 + 4 + 3


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("prune", {"num_candidates": 4, "checkpoints": []}),
        ("prune", {"num_candidates": 4, "keep": 1.0}),
        ("draft", {"num_candidates": 4, "num_commits": 4, "draft_steps": 3, "commit_eta": None}),
    ],
)
def test_without_pruning_or_with_every_draft_committed_it_is_best_of_n(
    f2g_registry: Registry, gmm_config: dict[str, Any], method: str, options: dict[str, Any]
) -> None:
    best = Pipeline.from_config(_config(gmm_config, "best-of-n", num_candidates=4), registry=f2g_registry)
    other = Pipeline.from_config(_config(gmm_config, method, **options), registry=f2g_registry)
    for seed in range(3):
        a, b = best.generate(seed=seed), other.generate(seed=seed)
        assert torch.equal(a.latents, b.latents)
        assert a.trace.final.combined == b.trace.final.combined  # type: ignore[union-attr]


def test_a_pruned_chain_follows_its_own_noise(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    """The kept video is one of best-of-N's N videos, whichever chains were pruned on the way."""
    best = Pipeline.from_config(_config(gmm_config, "best-of-n", num_candidates=6), registry=f2g_registry)
    prune = Pipeline.from_config(
        _config(gmm_config, "prune", num_candidates=6, checkpoints=[1, 5], keep=0.5), registry=f2g_registry
    )
    for seed in range(4):
        finals = best.generate(seed=seed).trace.final.combined  # type: ignore[union-attr]
        result = prune.generate(seed=seed)
        assert result.trace.final.combined[result.trace.final.chosen] in finals  # type: ignore[union-attr,index]
        assert [len(s.chains) for s in result.trace.steps] == [6, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2]


def test_prune_keeps_best_of_n_order_statistics_at_a_fraction_of_the_cost(
    f2g_registry: Registry, gmm_config: dict[str, Any]
) -> None:
    """A mode is settled by mid-run, so pruning there keeps a target-mode chain whenever best-of-N would have
    one: P(hit) = 1 − ½^N, as for best-of-N, for about half of best-of-N's calls."""
    config = _config(_two_modes_1d(gmm_config), "prune", 10, num_candidates=4, checkpoints=[5], keep=0.25)
    pipeline = Pipeline.from_config(config, registry=f2g_registry)
    hits = [float(pipeline.generate(seed=s).latents[0, 0]) > 0 for s in range(200)]
    assert abs(np.mean(hits) - (1 - 0.5**4)) < 0.05  # binomial sd ≈ 0.017
    assert pipeline.sampler.model_calls(10) == 7 * 4 + 3 < 4 * 10


def test_a_commit_follows_its_draft(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    """With deterministic commits (eta = 0, the default) and a full-length draft, the commit reproduces its draft
    exactly, so the kept video scores what the best draft scored (the sampler itself is stochastic, eta = 1)."""
    config = _config(gmm_config, "draft", 10, num_candidates=5, num_commits=1, draft_steps=10, commit_eta=0.0)
    pipeline = Pipeline.from_config(config, registry=f2g_registry)
    for seed in range(3):
        result = pipeline.generate(seed=seed)
        drafts = result.trace.steps[0]
        assert drafts.phase == "initial" and len(drafts.combined) == 5 and drafts.model_calls == 5 * 10
        target = np.array([2.0, 2.0])
        final = -float(((result.latents[0].numpy() - target) ** 2).sum())
        assert final == pytest.approx(max(c for c in drafts.combined if c is not None), abs=1e-4)
        assert drafts.selected == [int(np.nanargmax(np.array(drafts.combined, dtype=float)))]


def test_draft_and_prune_beat_plain_sampling(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    share = {}
    for name, options in {"none": {}, "prune": {"num_candidates": 4}, "draft": {"num_candidates": 4}}.items():
        pipeline = Pipeline.from_config(_config(gmm_config, name, 10, **options), registry=f2g_registry)
        points = np.stack([pipeline.generate(seed=s).latents[0].numpy() for s in range(60)])
        share[name] = float((np.linalg.norm(points - 2.0, axis=1) < 1.0).mean())
    assert min(share["prune"], share["draft"]) > share["none"] + 0.2, share


def test_smc_funnel_shrinks_the_particles_and_records_them(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    config = _config(gmm_config, "smc", 8, num_particles=8, final_particles=2, ess_threshold=0.0)
    result = Pipeline.from_config(config, registry=f2g_registry).generate(seed=1)
    counts = [len(s.chains) for s in result.trace.steps]
    assert counts == [7, 7, 6, 5, 4, 4, 3, 2] and counts == sorted(counts, reverse=True)
    assert all(s.resampled for s, before in zip(result.trace.steps[1:], counts, strict=False) if len(s.chains) < before)


def test_tempered_smc_still_samples_the_reward_tilted_distribution(
    f2g_registry: Registry, gmm_config: dict[str, Any]
) -> None:
    """β = 1 at the clean level, so the tempered weights telescope to the same exp(λ r) target (theory ≈ 0.69)."""
    import math

    lam, s = 0.05, 0.3
    theory = 1.0 / (1.0 + math.exp(-16 * lam / (1 + 2 * lam * s**2)))
    config = _config(
        _two_modes_1d(gmm_config), "smc", 10, num_particles=16, lam=lam, final="sample", tempering="linear"
    )
    pipeline = Pipeline.from_config(config, registry=f2g_registry)
    hits = [float(pipeline.generate(seed=seed).latents[0, 0]) > 0 for seed in range(150)]
    assert abs(np.mean(hits) - theory) < 0.1


def test_ssp_resampling_gives_floor_or_ceiling_copies_with_the_right_mean() -> None:
    weights = np.array([0.05, 0.2, 0.3, 0.45])
    rng = np.random.default_rng(0)
    totals = np.zeros(4)
    for _ in range(2000):
        counts = np.bincount(resample(np.log(weights), "ssp", rng, size=6), minlength=4)
        assert counts.sum() == 6 and np.all(np.abs(counts - 6 * weights) < 1)
        totals += counts
    assert np.allclose(totals / 2000, 6 * weights, atol=0.05)
    assert len(resample(np.log(weights), "systematic", rng, size=3)) == 3


def test_free2guide_skip_rule_bounds(counting: Registry, gmm_config: dict[str, Any]) -> None:
    """min_spread 0 never skips (the paper's run, bit for bit); an unreachable spread skips every guided step,
    which then keeps the plain candidate for one extra model call instead of n − 1."""
    gmm_config["backbone"] = {"type": "counting-mixture"}
    window = {"num_candidates": 5, "start": 2, "num_guided_steps": 4}
    paper = Pipeline.from_config(_config(gmm_config, "free2guide", **window), registry=counting)
    never = Pipeline.from_config(_config(gmm_config, "free2guide", min_spread=0.0, **window), registry=counting)
    always = Pipeline.from_config(_config(gmm_config, "free2guide", min_spread=1e9, **window), registry=counting)
    plain = Pipeline.from_config(_config(gmm_config, "none"), registry=counting)
    a, b, c, d = (p.generate(seed=6) for p in (paper, never, always, plain))
    assert torch.equal(a.latents, b.latents) and b.trace.totals()["model_calls"] == 12 + 4 * 4
    assert torch.equal(c.latents, d.latents) and c.trace.totals()["model_calls"] == 12 + 4 * 1
    assert [s.num_candidates for s in c.trace.steps if s.guided] == [2] * 4
    assert always.backbone.denoised == c.trace.totals()["model_calls"] <= always.sampler.model_calls(12)


def test_free2guide_skip_rule_guides_where_candidates_differ(counting: Registry, gmm_config: dict[str, Any]) -> None:
    gmm_config["backbone"] = {"type": "counting-mixture"}
    config = _config(gmm_config, "free2guide", num_candidates=4, num_guided_steps=10, min_spread=0.5)
    pipeline = Pipeline.from_config(config, registry=counting)
    result = pipeline.generate(seed=3)
    sizes = [s.num_candidates for s in result.trace.steps if s.guided]
    assert set(sizes) <= {2, 4} and 2 in sizes and 4 in sizes  # some steps skipped, some guided
    told = sizes.count(4)
    assert pipeline.backbone.denoised == result.trace.totals()["model_calls"] == 12 + told * 3 + (10 - told)
    for step in result.trace.steps:
        if step.num_candidates == 2:
            assert step.chosen == 0 and abs(step.combined[1] - step.combined[0]) < 0.5  # type: ignore[operator]


def test_a_window_by_noise_level_is_the_matching_step_window(
    f2g_registry: Registry, gmm_config: dict[str, Any]
) -> None:
    by_sigma = Pipeline.from_config(
        _config(gmm_config, "beam", num_beams=2, num_candidates=2, sigma_min=0.3, sigma_max=0.9), registry=f2g_registry
    )
    sigmas = by_sigma.backbone.schedule(12).sigmas
    steps = [k for k in range(11) if 0.3 <= sigmas[k] <= 0.9]
    assert steps and steps == list(range(steps[0], steps[-1] + 1))
    by_step = Pipeline.from_config(
        _config(gmm_config, "beam", num_beams=2, num_candidates=2, start=steps[0], num_guided_steps=len(steps)),
        registry=f2g_registry,
    )
    a, b = by_sigma.generate(seed=1), by_step.generate(seed=1)
    assert torch.equal(a.latents, b.latents)
    assert a.trace.totals()["model_calls"] == by_sigma.sampler.model_calls(12, by_sigma.backbone.schedule(12))
    with pytest.raises(ConfigError, match=r"by step .* or by noise level"):
        Pipeline.from_config(_config(gmm_config, "free2guide", start=2, sigma_max=0.5), registry=f2g_registry)


def test_prune_checkpoints_by_noise_level(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    options = {"num_candidates": 4, "checkpoints": [0.6, 0.95], "checkpoint_by": "sigma"}
    pipeline = Pipeline.from_config(_config(gmm_config, "prune", **options), registry=f2g_registry)
    schedule = pipeline.backbone.schedule(12)
    steps = pipeline.sampler.options.checkpoint_steps(12, schedule)
    assert steps == [next(k for k in range(11) if schedule.sigmas[k] <= v) for v in (0.95, 0.6)] == [7, 10]
    result = pipeline.generate(seed=0)
    assert result.trace.totals()["model_calls"] == pipeline.sampler.model_calls(12, schedule)
    assert [k for k, s in enumerate(result.trace.steps) if s.guided] == steps


def test_f2g_list_samplers_shows_prune_and_draft_with_options_and_costs(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from f2g_core.cli import app

    wide_console(monkeypatch, 400)  # no wrapping
    done = CliRunner().invoke(app, ["list", "samplers", "--options"])
    assert done.exit_code == 0, done.output
    for text in ("prune", "draft", "checkpoint_by", "num_commits", "draft_steps", "final_particles", "min_spread"):
        assert text in done.output
    for cost in ("N·S + m·(T − 1)", "Σ_ℓ chains alive at level ℓ", "B·T + G·B·(K − 1) + G·B·K·L", "N·T"):
        assert cost in done.output


@pytest.mark.parametrize(
    ("method", "options"),
    [("prune", {"num_candidates": 6}), ("draft", {"num_candidates": 6, "num_commits": 2})],
)
def test_batched_equals_one_chain_per_call(
    counting: Registry, gmm_config: dict[str, Any], method: str, options: dict[str, Any]
) -> None:
    gmm_config["backbone"] = {"type": "counting-mixture"}
    batched = Pipeline.from_config(_config(gmm_config, method, **options), registry=counting)
    config = _config(gmm_config, method, **options)
    config["guidance"]["chunk_size"] = 1
    single = Pipeline.from_config(config, registry=counting)
    a, b = batched.generate(seed=4), single.generate(seed=4)
    assert max(batched.backbone.batches) == 6 and set(single.backbone.batches) == {1}
    assert torch.equal(a.latents, b.latents)
    assert [s.selected for s in a.trace.steps] == [s.selected for s in b.trace.steps]
    assert any(s.selected for s in a.trace.steps)  # pruning or drafting chose something
    assert (a.trace.final is None) == (b.trace.final is None)
    assert a.trace.final is None or a.trace.final.chosen == b.trace.final.chosen  # type: ignore[union-attr]


def test_chosen_has_one_meaning_an_index_into_the_scored_candidates(
    f2g_registry: Registry, gmm_config: dict[str, Any]
) -> None:
    """Every method's ``selected`` indexes the record's ``combined`` (the candidates scored, in order; the finished
    particles when SMC's final choice reuses the last step's scores), and names
    the candidate each row is: for one proposal per chain (SMC, prune) and final choices that is the parent itself,
    for beam search parent·K + candidate, for Free²Guide the kept candidate, which the best score decides."""
    for method, options in METHODS:
        if method == "none":
            continue
        results = Pipeline.from_config(_config(gmm_config, method, **options), registry=f2g_registry).generate_many(
            ["a", "b"], 0
        )
        for result in results:
            records = [*result.trace.steps, *([result.trace.final] if result.trace.final else [])]
            assert any(r.selected for r in records), (method, options)
            before: list[int] = []
            for record in records:
                chains, before = before, record.chains  # the chains entering this record's step, and after it
                if not record.selected:
                    continue
                where = (method, options, record.phase, record.step)
                pool = len(record.combined) or len(chains)  # SMC's final choice reuses the last step's scores
                assert all(0 <= s < pool for s in record.selected), where
                assert record.chosen == (record.selected[0] if len(record.selected) == 1 else None), where
                one_each = method in ("smc", "prune") or record.phase == "final"
                if one_each:
                    assert record.selected == record.parents, where
                elif method == "beam":
                    k = options["num_candidates"]
                    assert [s // k for s in record.selected] == record.parents, where
                elif method == "free2guide" and record.phase == "step":
                    scores = np.array(record.combined, dtype=float)
                    assert record.selected == [int(np.nanargmax(scores))], where
