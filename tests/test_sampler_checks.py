"""The loop checks what a search method returns, and what the backbone makes, before using it.

A plugin sampler's malformed step, or an exception inside it, fails as a ComponentError whose one line names the
sampler and the problem (not a bare IndexError deep in the loop, nor garbage lineage with exit 0); latents that
stop being finite fail naming the backbone and the step, instead of saving a black video. The built-in methods'
options refuse values the maths cannot use (an infinite λ, an empty scoring window).
"""

import json
import os
import subprocess
import sys
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
import yaml

from f2g_core.default_plugins.samplers import BestOfN, Free2Guide
from f2g_core.errors import ComponentError, ConfigError
from f2g_core.gaussian_mixture import GaussianMixtureBackbone
from f2g_core.hookspecs import hookimpl
from f2g_core.pipeline import Pipeline, failed_runs
from f2g_core.plugins import Plugins
from f2g_core.population import Population, Step
from f2g_core.registry import Registry
from f2g_core.selection import effective_sample_size, soft_weights
from f2g_core.testing import install_fake_distribution


def _config(base: dict[str, Any], method: str, steps: int = 8, **options: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(base))
    data["sampler"]["num_steps"] = steps
    data["guidance"] = {"method": method, "options": options}
    return data


# ----------------------------------------------------------------------------------- malformed sampler output


def _shifted(step: Step, parents: Any = None, picked: Any = None, pool_video: Any = None) -> Step:
    return Step(
        step.population,
        parents=step.parents if parents is None else parents,
        picked=step.picked if picked is None else picked,
        pool_video=step.pool_video if pool_video is None else pool_video,
    )


def _fewer_rows(step: Step) -> Step:
    return Step(step.population, parents=step.parents[:0])


def _float_parents(step: Step) -> Step:
    return Step(step.population, parents=step.parents.astype(np.float64))


def _other_videos(step: Step) -> Step:
    population = step.population
    return Step(Population(population.x, population.x0, population.video + 1, population.chain), step.parents)


def _x0_rows(step: Step) -> Step:
    population = step.population
    assert population.x0 is not None
    return Step(Population(population.x, population.x0[:0], population.video, population.chain), step.parents)


def _memo_rows(step: Step) -> Step:
    population = step.population
    return Step(
        Population(population.x, None, population.video, population.chain, {"score": np.zeros(2)}), step.parents
    )


def _raises(step: Step) -> Step:
    raise RuntimeError("index bookkeeping went wrong")


CORRUPTIONS: list[tuple[Callable[[Step], Any], str]] = [
    (lambda step: (step.population, step.parents), "a tuple instead of a Step"),
    (_fewer_rows, "parents is int64 of shape (0,); expected 1 integers, one per row"),
    (_float_parents, "parents is float64"),
    (lambda step: _shifted(step, parents=step.parents + 7), "parent 7 out of range: the previous population has 1"),
    (lambda step: _shifted(step, parents=step.parents - 1), "parent -1 out of range"),
    (
        lambda step: _shifted(step, picked=np.array([10**6])),
        "picked row 1000000 out of range: the pool it selects from has 3",
    ),
    (lambda step: _shifted(step, picked=np.array([-2])), "picked row -2 out of range"),
    (lambda step: _shifted(step, pool_video=np.array([1, 1, 1])), "row 0 of video 0 was picked from row"),
    (lambda step: _shifted(step, pool_video=np.array(["a"])), "picked rows without their pool's videos"),
    (_x0_rows, "x0 has 0 rows but the latents x have 1; take rows with population.take"),
    (_memo_rows, "memo['score'] has 2 rows but the latents x have 1"),
    (_other_videos, "rows of videos [1]; expected every video 0..0"),
    (_raises, "failed in step() at step 2 of 8: RuntimeError: index bookkeeping went wrong"),
]


class Broken(Free2Guide):
    """Free²Guide whose step 2 is corrupted by ``corrupt`` (set per test)."""

    name = "broken"
    corrupt: ClassVar[Callable[[Step], Any]] = staticmethod(lambda step: step)

    def step(self, tools: Any, population: Population, k: int) -> Any:
        step = super().step(tools, population, k)
        return type(self).corrupt(step) if k == 2 else step


class Unreduced(BestOfN):
    """Best-of-N that forgets to reduce: every chain survives the finish."""

    name = "unreduced"

    def finish(self, tools: Any, population: Population) -> Step:
        return Step(population, parents=np.arange(len(population)))


def _samplers(register_plugin: Callable[..., Plugins], corrupt: Callable[[Step], Any]) -> Registry:
    broken = type("BrokenNow", (Broken,), {"corrupt": staticmethod(corrupt)})

    @hookimpl
    def register_samplers(register):  # type: ignore[no-untyped-def]
        register(broken)
        register(Unreduced)

    return register_plugin(types.SimpleNamespace(register_samplers=register_samplers)).registry


@pytest.mark.parametrize(("corrupt", "problem"), CORRUPTIONS)
def test_a_malformed_step_fails_naming_the_sampler_and_the_problem(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any], corrupt: Any, problem: str
) -> None:
    registry = _samplers(register_plugin, corrupt)
    config = _config(gmm_config, "broken", num_candidates=3, num_guided_steps=4)
    pipeline = Pipeline.from_config(config, registry=registry)
    with pytest.raises(ComponentError) as caught:
        pipeline.generate(seed=1)
    message = str(caught.value)
    assert message.startswith("sampler 'broken'") and "\n" not in message
    assert "at step 2 of 8" in message and problem in message, message


def test_a_finish_keeping_several_rows_per_video_fails_naming_the_sampler(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any]
) -> None:
    registry = _samplers(register_plugin, lambda step: step)
    pipeline = Pipeline.from_config(_config(gmm_config, "unreduced", num_candidates=3), registry=registry)
    with pytest.raises(ComponentError, match=r"sampler 'unreduced' finished with 3 rows \(videos \[0, 0, 0\]\) for 1"):
        pipeline.generate(seed=1)


class Uneven(BestOfN):
    """Best-of-N that drops one chain of the last video at step 1 (every video must keep as many rows)."""

    name = "uneven"

    def step(self, tools: Any, population: Population, k: int) -> Step:
        step = super().step(tools, population, k)
        rows = np.arange(len(population) - (k == 1))
        return Step(step.population.take(rows), parents=rows) if k == 1 else step


def test_videos_keeping_different_numbers_of_rows_fail_naming_the_sampler(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any]
) -> None:
    @hookimpl
    def register_samplers(register):  # type: ignore[no-untyped-def]
        register(Uneven)

    registry = register_plugin(types.SimpleNamespace(register_samplers=register_samplers)).registry
    pipeline = Pipeline.from_config(_config(gmm_config, "uneven", num_candidates=3), registry=registry)
    with pytest.raises(
        ComponentError, match=r"sampler 'uneven' returned a malformed step at step 1 of 8: \[3, 2\] rows"
    ):
        pipeline.generate_many(["a", "b"], 0)


def test_well_formed_methods_pass_the_checks_unchanged(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    """The checks cost nothing a correct method notices: every built-in still runs, batched videos included."""
    for method, options in [
        ("free2guide", {"num_candidates": 3, "num_guided_steps": 3, "initial_candidates": True}),
        ("best-of-n", {"num_candidates": 3}),
        ("smc", {"num_particles": 3, "ess_threshold": 1.0}),
        ("beam", {"num_beams": 2, "num_candidates": 2, "num_guided_steps": 3}),
    ]:
        pipeline = Pipeline.from_config(_config(gmm_config, method, **options), registry=f2g_registry)
        results = pipeline.generate_many(["a", "b"], [0, 1])
        assert len(results) == 4 and all(r.trace.totals()["guided_steps"] > 0 for r in results)


# ----------------------------------------------------------------------------------- non-finite latents


class NaNMixture(GaussianMixtureBackbone):
    """The Gaussian mixture whose denoiser returns NaN from its ``after``-th call on (a float16 overflow, say)."""

    name = "nan-mixture"
    after: ClassVar[int] = 5

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.calls = 0

    def denoise(self, latents: Any, level: Any, cond: Any) -> Any:
        self.calls += 1
        x0 = super().denoise(latents, level, cond)
        return torch.full_like(x0, float("nan")) if self.calls >= type(self).after else x0


def test_nan_latents_fail_naming_the_backbone_and_the_step(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any]
) -> None:
    @hookimpl
    def register_backbones(register):  # type: ignore[no-untyped-def]
        register(NaNMixture)

    registry = register_plugin(types.SimpleNamespace(register_backbones=register_backbones)).registry
    config = _config(gmm_config, "none")
    config["backbone"] = {"type": "nan-mixture"}
    config["rewards"] = []
    pipeline = Pipeline.from_config(config, registry=registry)
    with pytest.raises(ComponentError) as caught:
        pipeline.generate(prompt="the upper-right mode", seed=3)
    message = str(caught.value)  # call 5 is step 4's x̂0: the transition it feeds makes NaN latents
    assert message.startswith("backbone 'nan-mixture' produced non-finite latents (NaN or inf) at step 4 of 8")
    assert "'the upper-right mode' seed 3" in message and "no video was saved" in message


def _nan_registry(register_plugin: Callable[..., Plugins]) -> Registry:
    @hookimpl
    def register_backbones(register):  # type: ignore[no-untyped-def]
        register(NaNMixture)

    return register_plugin(types.SimpleNamespace(register_backbones=register_backbones)).registry


@pytest.mark.parametrize(("method", "options"), [("none", {}), ("best-of-n", {"num_candidates": 2})])
def test_a_failed_run_keeps_its_trace_up_to_the_failing_step(
    register_plugin: Callable[..., Plugins],
    gmm_config: dict[str, Any],
    tmp_path: Path,
    method: str,
    options: dict[str, Any],
) -> None:
    config = _config(gmm_config, method, **options)
    config["backbone"] = {"type": "nan-mixture"}
    pipeline = Pipeline.from_config(config, registry=_nan_registry(register_plugin))
    with pytest.raises(ComponentError) as caught:
        pipeline.generate(prompt="the upper-right mode", seed=3)
    (failed,) = failed_runs(caught.value)
    failure = failed.trace.failure
    assert failure is not None and failure["phase"] == "step"
    assert failure["error"] == str(caught.value) and failure["where"] in str(caught.value)
    # the step the NaN appeared at is recorded, with the calls it spent; every earlier step is complete
    assert failure["where"] == f"at step {failure['step']} of 8"
    assert [record.step for record in failed.trace.steps] == list(range(failure["step"] + 1))
    spent = pipeline.backbone.calls * pipeline.sampler.num_chains()  # every chain in each denoiser call
    assert failed.trace.totals()["model_calls"] == spent
    assert all(record.parents for record in failed.trace.steps[:-1])
    directory = pipeline.save_failed(failed, tmp_path)
    assert directory.name.endswith("-failed") and sorted(p.name for p in directory.iterdir()) == [
        "config.yaml",
        "trace.json",
    ]
    saved = json.loads((directory / "trace.json").read_text())
    assert saved["failure"] == failure and saved["totals"]["model_calls"] == spent
    assert yaml.safe_load((directory / "config.yaml").read_text())["guidance"]["method"] == method


def test_a_finished_run_has_no_failure_and_a_config_error_no_failed_runs(
    f2g_registry: Registry, gmm_config: dict[str, Any]
) -> None:
    result = Pipeline.from_config(_config(gmm_config, "none"), registry=f2g_registry).generate(seed=0)
    assert result.trace.failure is None and "failure" not in result.trace.to_dict()
    with pytest.raises(ConfigError) as caught:  # found before sampling began: there is no trace to keep
        Pipeline.from_config(_config(gmm_config, "none"), registry=f2g_registry).generate(prompt="")
    assert failed_runs(caught.value) == []


PLUGIN = """
import numpy as np
import torch
from f2g_core.gaussian_mixture import GaussianMixtureBackbone, register_backbones as _gmm, register_rewards  # noqa
from f2g_core.default_plugins.samplers import Free2Guide
from f2g_core.hookspecs import hookimpl


class NaNMixture(GaussianMixtureBackbone):
    name = "nan-mixture"

    def denoise(self, latents, level, cond):
        return torch.full_like(super().denoise(latents, level, cond), float("nan"))


class Tupled(Free2Guide):
    name = "tupled"

    def step(self, tools, population, k):
        step = super().step(tools, population, k)
        return step.population, step.parents


@hookimpl
def register_backbones(register):
    _gmm(register)
    register(NaNMixture)


@hookimpl
def register_samplers(register):
    register(Tupled)
"""


@pytest.mark.parametrize(
    ("backbone", "method", "expected"),
    [
        ("nan-mixture", "free2guide", "error: backbone 'nan-mixture' produced non-finite latents (NaN or inf) at step"),
        ("gaussian-mixture", "tupled", "error: sampler 'tupled' returned a malformed step at step 0 of 4: a tuple"),
    ],
)
def test_the_cli_prints_one_line_exits_1_keeps_the_trace_and_saves_no_black_video(
    tmp_path: Path, backbone: str, method: str, expected: str
) -> None:
    (tmp_path / "f2g_checks_plugin.py").write_text(PLUGIN)
    install_fake_distribution(tmp_path, "checks-test", "0.1", "checks = f2g_checks_plugin")
    config = {
        "prompt": "the upper-right mode",
        "backbone": {"type": backbone},
        "rewards": [{"type": "mode-distance", "options": {"target": [2.0, 2.0]}}],
        "sampler": {"num_steps": 4},
        "guidance": {"method": method, "options": {"num_candidates": 2, "num_guided_steps": 2}},
        "output": {"dir": str(tmp_path / "runs"), "formats": ["gif"]},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "F2G_LOAD_PLUGINS": "checks", "COLUMNS": "300"}
    done = subprocess.run(
        [sys.executable, "-c", "from f2g_core.cli import main; main()", "run", str(tmp_path / "run.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # docs/cli.md: any other error, one line
    assert expected in done.stderr and "unexpected" not in done.stderr and "Traceback" not in done.stderr
    # the trace up to the failing step is kept, marked failed, before the error is reported; no video is made
    (kept,) = (tmp_path / "runs").iterdir()
    assert kept.name.endswith("-failed") and f"wrote {kept}" in " ".join(done.stdout.split())
    assert sorted(path.name for path in kept.iterdir()) == ["config.yaml", "trace.json"]
    failure = json.loads((kept / "trace.json").read_text())["failure"]
    assert (
        failure["step"] == 0
        and failure["where"] == "at step 0 of 4"
        and expected[len("error: ") :] in (failure["error"])
    )


# ----------------------------------------------------------------------------------- option ranges


@pytest.mark.parametrize(
    ("method", "options", "problem"),
    [
        ("smc", {"lam": float("inf")}, "guidance.options.lam"),
        ("smc", {"lam": float("nan")}, "guidance.options.lam"),
        ("smc", {"start": 5, "stop": 3}, "stop=3 must be greater than start=5"),
        ("smc", {"start": 4, "stop": 4}, "stop=4 must be greater than start=4"),
        ("smc", {"stop": 9}, "guidance.options.stop: 9 > sampler.num_steps=8"),
        ("free2guide", {"selection": "soft", "temperature": float("inf")}, "guidance.options.temperature"),
        ("best-of-n", {"selection": "soft", "temperature": float("nan")}, "guidance.options.temperature"),
    ],
)
def test_options_the_maths_cannot_use_are_refused(
    f2g_registry: Registry, gmm_config: dict[str, Any], method: str, options: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(").replace(".", r"\.")):
        Pipeline.from_config(_config(gmm_config, method, **options), registry=f2g_registry)


def test_a_huge_lam_concentrates_the_weights_instead_of_overflowing() -> None:
    """λ = 1e308 with rewards above 1.8 made every λ·r inf: the weights were lost, ESS stayed k, no resampling."""
    from f2g_core.selection import tilted_log_weights

    rewards = np.array([3.0, 5.0, 4.0, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        logw = tilted_log_weights(rewards, 1e308)
        assert effective_sample_size(logw) == pytest.approx(1.0)
        assert logw[1] == 0.0 and logw[2] == -1e308 and np.isneginf(logw[[0, 3]]).all()
        assert tilted_log_weights(rewards, float("inf"))[1] == 0.0  # the limit, not inf - inf
        np.testing.assert_allclose(soft_weights(rewards, 1e-320), [0.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(np.exp(tilted_log_weights(np.array([0.0, np.log(2.0)]), 1.0)), [0.5, 1.0])


def test_smc_with_a_huge_lam_resamples_onto_the_best_particle(
    f2g_registry: Registry, gmm_config: dict[str, Any]
) -> None:
    config = _config(gmm_config, "smc", num_particles=4, lam=1e308)
    config["rewards"] = [{"type": "mode-distance", "options": {"target": [40.0, 40.0]}}]  # rewards far from 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = Pipeline.from_config(config, registry=f2g_registry).generate(seed=0)
    step = result.trace.steps[0]
    assert step.ess == pytest.approx(1.0) and step.resampled
    best = int(np.nanargmax(np.array(step.combined, dtype=float)))
    assert step.parents == [best] * 4


# ----------------------------------------------------------------------------------- planned guided steps

PLANS = [
    ("free2guide", {"num_candidates": 3, "start": 1, "num_guided_steps": 3}, 3),
    ("free2guide", {"num_candidates": 2, "num_guided_steps": 2, "initial_candidates": True}, 3),
    ("best-of-n", {"num_candidates": 3}, 1),
    ("smc", {"num_particles": 3}, 8),  # every step, the last one's scores reused for the final choice
    ("smc", {"num_particles": 3, "resample_every": 3, "stop": 6}, 3),  # steps 0 and 3, then the final choice
    ("smc", {"num_particles": 1}, 8),
    ("beam", {"num_beams": 2, "num_candidates": 2, "num_guided_steps": 3}, 4),
    ("beam", {"num_beams": 1, "num_candidates": 2, "num_guided_steps": 3}, 3),
    ("none", {}, 0),
    ("prune", {"num_candidates": 4}, 2),  # checkpoints at steps 1, 3, 5: 4 → 2 → 1, the last changes nothing
    ("prune", {"num_candidates": 4, "keep": 0.75, "checkpoints": [2]}, 2),  # 4 → 3, then the final choice
    ("draft", {"num_candidates": 3, "num_commits": 2, "draft_steps": 2}, 2),  # the drafts, then the commits
    ("draft", {"num_candidates": 3, "draft_steps": 2}, 1),
]


@pytest.mark.parametrize(("method", "options", "planned"), PLANS)
def test_each_method_plans_exactly_the_scorings_it_makes(
    f2g_registry: Registry, gmm_config: dict[str, Any], method: str, options: dict[str, Any], planned: int
) -> None:
    """planned_guided_steps is what the summary divides by ("2 of 6 guided steps scored"): a method's plan must
    equal the scorings it makes when nothing stops it, or every normal run would look cut short."""
    pipeline = Pipeline.from_config(_config(gmm_config, method, **options), registry=f2g_registry)
    assert pipeline.sampler.planned_guided_steps(8) == planned
    result = pipeline.generate(seed=2)
    records = [*result.trace.steps, *([result.trace.final] if result.trace.final else [])]
    assert sum(record.guided for record in records) == planned
    totals = result.trace.totals()
    assert totals["planned_guided_steps"] == totals["guided_steps"] == planned


def test_a_budget_stop_counts_the_steps_it_cut_as_planned_and_refused_calls_as_none(
    register_plugin: Callable[..., Plugins], gmm_config: dict[str, Any]
) -> None:
    """A reward whose budget runs out at its third batch: 2 steps scored of the 6 planned, and the refused batch
    made no reward calls (it counted 5, and the planned steps stopped at 3)."""
    from f2g_core.errors import BudgetExceeded
    from f2g_core.interfaces import Reward, RewardBatch

    class Metered(Reward):
        name = "metered"
        batches = 0

        def score(self, batch: RewardBatch) -> list[float]:
            type(self).batches += 1
            if type(self).batches > 2:
                raise BudgetExceeded("metered: budget reached")
            return [float(i) for i in range(len(batch))]

    @hookimpl
    def register_rewards(register):  # type: ignore[no-untyped-def]
        register(Metered)

    registry = register_plugin(types.SimpleNamespace(register_rewards=register_rewards)).registry
    config = _config(gmm_config, "free2guide", num_candidates=5, num_guided_steps=6)
    config["rewards"] = [{"type": "metered"}]
    with pytest.warns(UserWarning, match="guidance stopped"):
        result = Pipeline.from_config(config, registry=registry).generate(seed=0)
    totals = result.trace.totals()
    assert (totals["guided_steps"], totals["planned_guided_steps"], totals["reward_calls"]) == (2, 6, 10)
