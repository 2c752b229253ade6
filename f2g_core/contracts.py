"""Contract tests every component plugin inherits (in the spirit of diffusers' PipelineTesterMixin).

A plugin's test module subclasses :class:`RewardContract`, :class:`BackboneContract`, :class:`SamplerContract`,
:class:`CombinerContract` or :class:`MetricContract`, names its component and how to build a small offline
instance, and pytest collects the inherited tests with it::

    import f2g_plugin_brightness.plugin as plugin
    from f2g_core.contracts import RewardContract


    class TestBrightnessContract(RewardContract):
        plugin = plugin                 # what the entry point loads
        component_id = "brightness"     # the id it registers
        options = {"gain": 2.0}         # options of a small, offline instance

        # or, when building it needs fixtures (a tiny checkpoint, a fake server):
        @pytest.fixture(scope="class")
        @classmethod
        def component(cls, tiny_checkpoint):
            return Brightness(Brightness.Options(checkpoint=str(tiny_checkpoint)))

Every contract checks that the plugin registers the component (strictly: a broken plugin fails the test), that its
``Options`` forbid unknown keys and describe every field, and that importing the plugin module imports nothing
heavy. A reward must return one finite float per candidate of textured frames, the same score for a candidate
alone as in a batch, NaN (never a guess) for a candidate whose frames are not finite, and numeric usage counters.
A backbone must denoise a batch to finite x̂0 of the latents' shape, the same for a sample alone as in a batch, and
decode exactly the frames asked for, in the order asked, matching the whole-video decode. A sampler (search
method) runs on the analytic Gaussian-mixture backbone: its counted model calls must equal its ``model_calls``
formula, its plain setting (one candidate, particle or beam: :attr:`SamplerContract.plain_options`) must be plain
sampling bit for bit, ``generate_many`` must equal one video at a time, the same seed twice must give the same video
(which catches randomness the method draws itself instead of through ``tools.rng``), and the trace's lineage must
be consistent (every chain's parent a chain of the step before, carrying its lineage id); a malformed step (wrong
row counts, parents or picked rows out of range) fails any of them with the loop's one-line ComponentError naming
the sampler and the problem. A combiner must give one
finite number per candidate, NaN for a candidate with any NaN score (and finite numbers for the others), and
permuting the candidates must permute its output. Class attributes tune tolerances and opt out of what a component
documents it does not do.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pytest
from pydantic import BaseModel

from f2g_core.evaluation import Metric, SuiteItem
from f2g_core.interfaces import Backbone, Combiner, Component, Reward, RewardBatch
from f2g_core.testing import assert_close_to_scale, gmm_run_config, isolated_plugins, textured_batch

if TYPE_CHECKING:
    from f2g_core.pipeline import Pipeline, RunResult
    from f2g_core.trace import RunTrace

__all__ = [
    "BackboneContract",
    "CombinerContract",
    "ComponentContract",
    "MetricContract",
    "RewardContract",
    "SamplerContract",
]

HEAVY_MODULES = (
    "torch",
    "torchvision",
    "transformers",
    "diffusers",
    "open_clip",
    "timm",
    "openai",
    "anthropic",
    "httpx",
    "tenacity",
)
"""Modules whose import costs seconds: a plugin imports them in ``load()``, never when its entry point loads."""


def undescribed_fields(options: type[BaseModel]) -> list[str]:
    """Fields of an Options model without a non-empty description."""
    return [name for name, field in options.model_fields.items() if not (field.description or "").strip()]


class ComponentContract:
    """What every component's tests check; see :class:`RewardContract` and :class:`BackboneContract`."""

    kind: ClassVar[str]
    plugin: ClassVar[Any]
    """The object the plugin's entry point loads (usually its ``plugin`` module)."""
    component_id: ClassVar[str]
    """The id the plugin registers the component under."""
    options: ClassVar[dict[str, Any]] = {}
    """Options of a small instance that loads offline (override the ``component`` fixture if fixtures are needed)."""
    heavy_modules: ClassVar[tuple[str, ...]] = HEAVY_MODULES
    """Modules that must not be imported by importing :attr:`plugin`'s module."""

    @classmethod
    def component_class(cls) -> type[Component]:
        plugins = isolated_plugins([(f"contract-{cls.component_id}", cls.plugin)], strict=True)
        return plugins.registry.get(cls.kind, cls.component_id).cls  # type: ignore[arg-type]

    @pytest.fixture(scope="class")
    @classmethod
    def component(cls) -> Iterator[Component]:
        """A loaded instance built from :attr:`options` (closed after the class's tests)."""
        component_class = cls.component_class()
        instance = component_class(component_class.Options(**cls.options))
        instance.load()
        yield instance
        instance.close()

    def test_plugin_registers_the_component(self) -> None:
        cls = self.component_class()
        assert cls.name == self.component_id
        assert cls.description(), f"{cls.__name__} needs a docstring: its first line is what `f2g list` shows"

    def test_options_forbid_unknown_keys_and_describe_every_field(self) -> None:
        options = self.component_class().Options
        assert options.model_config.get("extra") == "forbid", f"{options.__qualname__} must set extra='forbid'"
        assert not undescribed_fields(options), f"{options.__qualname__} fields without a description"
        with pytest.raises(ValueError):
            options(**{**self.options, "no_such_option_f2g": 1})

    def test_plugin_import_is_light(self) -> None:
        module = getattr(self.plugin, "__name__", None)
        if module is None or module not in sys.modules:
            pytest.skip("the plugin is not a module")
        code = f"import sys, {module}; print(sorted(m for m in {self.heavy_modules!r} if m in sys.modules))"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]", f"importing {module} imported heavy modules: {done.stdout.strip()}"


class RewardContract(ComponentContract):
    """Contract tests of a reward (set ``plugin``, ``component_id`` and ``options`` or a ``component`` fixture)."""

    kind: ClassVar[str] = "reward"
    prompt: ClassVar[str] = "a red circle moving left"
    num_key_frames: ClassVar[int] = 4
    frame_size: ClassVar[int] = 32
    batch_ulps: ClassVar[float] = 512
    """How closely a candidate's score alone must match its score in a batch, in float32 epsilons of the largest
    score (see :func:`f2g_core.testing.assert_close_to_scale`): batched matmuls add in another order."""
    non_finite_frames_score_nan: ClassVar[bool] = True

    def batch(self, n: int = 3, seed: int = 0) -> RewardBatch:
        """Candidates with textured, coloured, moving frames (see :mod:`f2g_core.textured_mixture`)."""
        return textured_batch(self.prompt, n, self.num_key_frames, self.frame_size, seed=seed)

    def test_one_finite_float_per_candidate(self, component: Reward) -> None:
        scores = list(component.score(self.batch(n=3)))
        assert len(scores) == 3
        assert all(isinstance(s, int | float) and math.isfinite(s) for s in scores), scores

    @pytest.mark.numerics
    def test_a_candidate_scores_the_same_alone_and_in_a_batch(self, component: Reward) -> None:
        batch = self.batch(n=3, seed=1)
        together = np.asarray(component.score(batch), dtype=np.float64)
        alone = [
            float(
                component.score(
                    RewardBatch(
                        batch.prompt,
                        batch.frames[i : i + 1],
                        batch.frame_indices,
                        batch.num_frames,
                        batch.step,
                        fps=batch.fps,
                    )
                )[0]
            )
            for i in range(len(batch))
        ]
        assert_close_to_scale(alone, together, ulps=self.batch_ulps, what="scores alone vs in a batch")

    def test_non_finite_frames_score_nan(self, component: Reward) -> None:
        if not self.non_finite_frames_score_nan:
            pytest.skip("this reward documents another behaviour for non-finite frames")
        batch = self.batch(n=3, seed=2)
        frames = batch.frames.copy()
        frames[1, 0, 0, 0, 0] = np.nan
        scores = list(
            component.score(
                RewardBatch(batch.prompt, frames, batch.frame_indices, batch.num_frames, batch.step, fps=batch.fps)
            )
        )
        assert math.isnan(scores[1]) and math.isfinite(scores[0]) and math.isfinite(scores[2]), scores

    def test_usage_counters_are_numbers(self, component: Reward) -> None:
        component.score(self.batch(n=2, seed=3))
        usage = dict(component.usage())
        assert all(isinstance(k, str) and isinstance(v, int | float) and math.isfinite(v) for k, v in usage.items())


class BackboneContract(ComponentContract):
    """Contract tests of a backbone (set ``plugin``, ``component_id`` and ``options`` or a ``component`` fixture)."""

    kind: ClassVar[str] = "backbone"
    prompt: ClassVar[str] = "a red car driving at night"
    num_steps: ClassVar[int] = 3
    denoise_ulps: ClassVar[float] = 512
    """How closely x̂0 of a sample alone must match it in a batch, in float32 epsilons of the largest |x̂0| (see
    :func:`f2g_core.testing.assert_close_to_scale`). Measured on the tiny models of both paper backbones and every
    diffusers family, on the native kernels and on ``ATEN_CPU_CAPABILITY=default`` (SSE oneDNN/MKL): at most 66,
    for the UNets with CFG; 1–25 for the others. 512 leaves 8x headroom; a batching bug is 10^4+ away."""
    decode_exact: ClassVar[bool] = True
    """Whether decoding some frames gives exactly those of the whole-video decode (False for preview decoders)."""
    decode_ulps: ClassVar[float] = 1024
    """How closely frames decoded alone must match the whole-video decode, in float32 epsilons of the largest pixel
    value (≤ 1): the decoder's convolutions see other neighbours in time and batch, so they add in another order."""

    def latents(self, backbone: Backbone, n: int = 2, seed: int = 0) -> tuple[Any, Any, Any]:
        """Level-0 latents of ``n`` samples, the schedule and the encoded prompt."""
        import torch

        schedule = backbone.schedule(self.num_steps)
        noise = torch.randn((n, *backbone.latent_shape()), generator=torch.Generator().manual_seed(seed))
        latents = backbone.initial_latents(noise.to(backbone.device, backbone.dtype), schedule)
        return latents, schedule, backbone.encode_prompt(self.prompt, None, None)

    def test_schedule_and_latents(self, component: Backbone) -> None:
        shape = component.latent_shape()
        assert shape and all(isinstance(d, int) and d > 0 for d in shape)
        schedule = component.schedule(self.num_steps)
        assert schedule.num_steps == self.num_steps and component.num_frames >= 1

    @pytest.mark.numerics
    def test_denoise_is_finite_and_the_same_alone_and_in_a_batch(self, component: Backbone) -> None:
        latents, schedule, cond = self.latents(component)
        level = schedule.level(0)
        x0 = component.denoise(latents, level, cond)
        assert tuple(x0.shape) == tuple(latents.shape) and bool(x0.isfinite().all())
        alone = component.denoise(latents[1:2], level, cond)
        assert_close_to_scale(alone, x0[1:2], ulps=self.denoise_ulps, what="x̂0 alone vs in a batch")

    @pytest.mark.numerics
    def test_decode_gives_exactly_the_frames_asked_for(self, component: Backbone) -> None:
        latents, schedule, cond = self.latents(component, seed=1)
        x0 = component.denoise(latents, schedule.level(0), cond)
        last = component.num_frames - 1
        frames = [last, 0] if last > 0 else [0]
        picked = component.decode(x0, frames)
        assert picked.shape[:2] == (2, len(frames)) and picked.shape[-1] == 3 and picked.dtype == np.float32
        assert np.isfinite(picked).all() and 0.0 <= picked.min() <= picked.max() <= 1.0
        video = component.decode_video(x0)
        assert video.shape[:2] == (2, component.num_frames) and video.shape[2:] == picked.shape[2:]
        if self.decode_exact:
            assert_close_to_scale(picked, video[:, frames], ulps=self.decode_ulps, what="frames decoded alone")


@contextmanager
def _global_generators_seeded(seed: int) -> Iterator[None]:
    """Seed Python's, numpy's and torch's global generators with ``seed`` for the block, then restore them."""
    import torch

    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


class SamplerContract(ComponentContract):
    """Contract tests of a search method (set ``plugin``, ``component_id``, ``options`` and ``plain_options``).

    Every test runs the method on the analytic ``gaussian-mixture`` backbone with the ``mode-distance`` reward
    (:func:`f2g_core.testing.gmm_run_config`), :attr:`num_steps` steps, the options :attr:`options`.
    """

    kind: ClassVar[str] = "sampler"
    num_steps: ClassVar[int] = 8
    plain_options: ClassVar[dict[str, Any] | None] = None
    """Options (over :attr:`options`) under which the method is plain sampling, e.g. ``{"num_candidates": 1}``;
    None when the method has no such setting (the bit-for-bit test is then skipped)."""
    prompts: ClassVar[tuple[str, str]] = ("the upper-right mode", "the lower-left mode")

    def run_config(self, options: Mapping[str, Any] | None = None, method: str | None = None) -> dict[str, Any]:
        """The run config of the contract's runs: ``method`` (default: this sampler) with ``options``."""
        config = gmm_run_config()
        config["sampler"]["num_steps"] = self.num_steps
        config["guidance"] = {
            "method": method or self.component_id,
            "options": dict(self.options if options is None else options),
        }
        return config

    def pipeline(self, options: Mapping[str, Any] | None = None, method: str | None = None) -> Pipeline:
        """A pipeline of :meth:`run_config` whose registry holds this plugin (loaded strictly)."""
        from f2g_core.pipeline import Pipeline

        registry = isolated_plugins([(f"contract-{self.component_id}", self.plugin)], strict=True).registry
        return Pipeline.from_config(self.run_config(options, method), registry=registry)

    def test_model_calls_equal_the_formula(self) -> None:
        counted: list[int] = []
        with self.pipeline() as pipeline:
            denoise = pipeline.backbone.denoise

            def counting(latents: Any, level: Any, cond: Any) -> Any:
                counted.append(int(latents.shape[0]))
                return denoise(latents, level, cond)

            pipeline.backbone.denoise = counting  # type: ignore[method-assign]
            result = pipeline.generate(seed=0)
            formula = pipeline.sampler.model_calls(self.num_steps)
        assert sum(counted) == formula, (
            f"sampler {self.component_id!r} ran {sum(counted)} samples through the denoiser, but its "
            f"model_calls({self.num_steps}) says {formula}: fix the formula (or the method)"
        )
        assert result.trace.totals()["model_calls"] == formula

    @pytest.mark.numerics
    def test_the_plain_setting_is_plain_sampling_bit_for_bit(self) -> None:
        if self.plain_options is None:
            pytest.skip("the method has no setting that makes it plain sampling (plain_options is None)")
        with self.pipeline({**self.options, **self.plain_options}) as pipeline:
            degenerate = pipeline.generate(seed=9)
        with self.pipeline({}, method="none") as pipeline:
            plain = pipeline.generate(seed=9)
        assert torch_equal(degenerate.latents, plain.latents), (
            f"sampler {self.component_id!r} with {self.plain_options} is not plain sampling bit for bit: its "
            "candidate 0 (chain 0, particle 0) must be the plain transition, and a lone candidate always kept"
        )

    @pytest.mark.numerics
    def test_generate_many_equals_one_video_at_a_time(self) -> None:
        with self.pipeline() as pipeline:
            many = pipeline.generate_many(list(self.prompts), seeds=[0, 1])
            alone = [pipeline.generate(result.prompt, seed=result.seed) for result in many]
        assert [(r.prompt, r.seed) for r in many] == [(p, s) for p in self.prompts for s in (0, 1)]
        for together, single in zip(many, alone, strict=True):
            assert torch_equal(together.latents, single.latents), (
                f"sampler {self.component_id!r}: {together.prompt!r} seed {together.seed} sampled with other "
                "videos differs from sampled alone: a method must treat each video's rows on their own"
            )
            assert together.trace.totals()["model_calls"] == single.trace.totals()["model_calls"]

    def test_the_same_seed_twice_gives_the_same_video(self) -> None:
        runs: list[RunResult] = []
        with self.pipeline() as pipeline:
            for global_seed in (1, 2):
                with _global_generators_seeded(global_seed):
                    runs.append(pipeline.generate(seed=3))
        first, second = runs
        assert torch_equal(first.latents, second.latents) and _decisions(first.trace) == _decisions(second.trace), (
            f"sampler {self.component_id!r} gave two different videos for the same seed: it draws randomness of "
            "its own (random, numpy.random, torch's global generator or an unseeded generator); draw only through "
            "tools.rng(video, k, chain) and the toolbox's keyed noise"
        )

    def test_the_trace_lineage_is_consistent(self) -> None:
        with self.pipeline() as pipeline:
            results = pipeline.generate_many(list(self.prompts), seeds=[0])
            chains = pipeline.sampler.num_chains()
        for result in results:
            _check_lineage(self.component_id, result.trace, chains, self.num_steps)


def torch_equal(a: Any, b: Any) -> bool:
    """Whether two tensors are equal bit for bit (same shape, same values)."""
    import torch

    return bool(torch.equal(a, b))


def _decisions(trace: RunTrace) -> list[tuple[Any, ...]]:
    """What a method decided at every step: parents, selected candidates and lineage."""
    records = [*trace.steps, *([trace.final] if trace.final is not None else [])]
    return [(r.step, r.phase, r.parents, r.selected, r.chains) for r in records]


def _check_lineage(sampler: str, trace: RunTrace, num_chains: int, num_steps: int) -> None:
    """Every recorded chain descends from a chain of the step before and carries its lineage id; one chain is
    left at the end; every sampling step is recorded once, in order."""
    steps = [record for record in trace.steps if record.phase == "step"]
    assert [record.step for record in steps] == list(range(num_steps)), (
        f"sampler {sampler!r}: the trace records steps {[r.step for r in steps]}, expected 0..{num_steps - 1}"
    )
    initial = [record for record in trace.steps if record.phase == "initial"]
    previous: Sequence[int] = initial[-1].chains if initial else list(range(num_chains))
    for record in [*steps, *([trace.final] if trace.final is not None else [])]:
        where = f"sampler {sampler!r} at {'its finish' if record.phase == 'final' else f'step {record.step}'}"
        assert record.parents and len(record.chains) == len(record.parents), f"{where}: no rows or no lineage"
        if record.selected:
            assert len(record.selected) == len(record.parents), f"{where}: {len(record.selected)} chosen indices"
        for row, (parent, chain) in enumerate(zip(record.parents, record.chains, strict=True)):
            assert 0 <= parent < len(previous), f"{where}: row {row}'s parent {parent} is not one of {len(previous)}"
            assert chain == previous[parent], (
                f"{where}: row {row} names parent {parent} (lineage {previous[parent]}) but carries lineage {chain}: "
                "its parents do not match the rows it took (return population.select(rows), or parents=rows for "
                "population.take(rows))"
            )
        previous = record.chains
    assert len(previous) == 1, f"sampler {sampler!r} ended with {len(previous)} chains per video; finish() keeps 1"


class CombinerContract(ComponentContract):
    """Contract tests of a combiner (set ``plugin``, ``component_id`` and ``options`` or a ``component`` fixture)."""

    kind: ClassVar[str] = "combiner"
    weights: ClassVar[dict[str, float]] = {"clip": 1.0, "aesthetic": 0.5, "lvlm": 2.0}
    permutation_ulps: ClassVar[float] = 64
    """How closely the combined scores of permuted candidates must match, in float32 epsilons of the largest
    |score| (a mean or a spread across the candidates adds its terms in another order)."""

    def scores(self, n: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
        """Scores of ``n`` candidates by three rewards on different scales (one of them with ties)."""
        rng = np.random.default_rng(seed)
        return {
            "clip": rng.normal(0.3, 0.05, n),
            "aesthetic": rng.normal(5.0, 1.0, n),
            "lvlm": rng.integers(1, 6, n).astype(np.float64),
        }

    def test_one_finite_number_per_candidate(self, component: Combiner) -> None:
        combined = np.asarray(component.combine(self.scores(), self.weights), dtype=np.float64)
        assert combined.shape == (6,) and np.isfinite(combined).all(), combined
        alone = np.asarray(component.combine({"clip": self.scores()["clip"]}, {"clip": 1.0}), dtype=np.float64)
        assert alone.shape == (6,) and np.isfinite(alone).all(), alone

    def test_a_nan_score_gives_nan_and_leaves_the_others_finite(self, component: Combiner) -> None:
        scores = self.scores(seed=1)
        scores["aesthetic"][2] = np.nan
        combined = np.asarray(component.combine(scores, self.weights), dtype=np.float64)
        assert math.isnan(combined[2]), f"a candidate with a NaN score combined to {combined[2]}; it must be NaN"
        assert np.isfinite(np.delete(combined, 2)).all(), combined

    @pytest.mark.numerics
    def test_permuting_the_candidates_permutes_the_result(self, component: Combiner) -> None:
        scores = self.scores(seed=2)
        order = np.random.default_rng(3).permutation(6)
        combined = np.asarray(component.combine(scores, self.weights), dtype=np.float64)
        permuted = component.combine({name: values[order] for name, values in scores.items()}, self.weights)
        assert_close_to_scale(permuted, combined[order], ulps=self.permutation_ulps, what="permuted candidates")


class MetricContract(ComponentContract):
    """Contract tests of an eval metric (set ``plugin``, ``component_id`` and, if needed, ``options`` and ``item``)."""

    kind: ClassVar[str] = "metric"
    item: ClassVar[SuiteItem] = SuiteItem(id="contract", prompt="a red circle moving right")
    """The prompt the contract's videos are scored for (pick one the metric applies to)."""
    fps: ClassVar[float | None] = 8.0
    """The frame rate passed to :meth:`~f2g_core.evaluation.Metric.measure_video`."""

    def video(self, seed: int = 0) -> np.ndarray:
        """A (frames, height, width, 3) float32 video in [0, 1] with texture, colour and motion, made by the
        textured analytic backbone from a seeded point."""
        import torch

        from f2g_core.textured_mixture import TexturedGaussianMixture

        backbone = TexturedGaussianMixture()
        backbone.load()
        point = torch.from_numpy(np.random.default_rng(seed).normal(size=(1, *backbone.latent_shape())))
        return np.asarray(backbone.decode_video(point.to(backbone.dtype)), dtype=np.float32)[0]

    def measure(self, metric: Metric, video: np.ndarray) -> Mapping[str, float | None]:
        values = metric.measure_video(self.item, video, self.fps)
        assert isinstance(values, Mapping), f"metric {self.component_id!r} returned a {type(values).__name__}"
        return values

    def test_reports_exactly_its_declared_columns(self, component: Metric) -> None:
        values = self.measure(component, self.video())
        declared = list(component.dimensions or (component.name,))
        assert sorted(values) == sorted(declared), (
            f"metric {self.component_id!r} reported {sorted(values)} but declares dimensions {declared}: "
            "report every declared dimension (None where it does not apply) and nothing else"
        )
        wrong = {k: v for k, v in values.items() if v is not None and not isinstance(v, (int, float))}
        assert not wrong, f"metric {self.component_id!r}: values must be numbers or None, got {wrong}"

    def test_the_same_video_scores_the_same_twice(self, component: Metric) -> None:
        first = self.measure(component, self.video(seed=1))
        self.measure(component, self.video(seed=2))  # another video in between: no state carried over
        second = self.measure(component, self.video(seed=1))
        assert _same(first, second), (
            f"metric {self.component_id!r} scored the same video {dict(first)} then {dict(second)}: it draws "
            "randomness of its own or carries state from one video to the next"
        )

    def test_non_finite_frames_score_nan_or_none(self, component: Metric) -> None:
        video = self.video()
        video[:, : video.shape[1] // 2] = np.nan
        values = self.measure(component, video)
        made_up = {k: v for k, v in values.items() if v is not None and math.isfinite(float(v))}
        assert not made_up, (
            f"metric {self.component_id!r} gave finite values {made_up} for a video with NaN frames: return NaN "
            "(failed) so the eval reports the failure instead of a made-up score"
        )


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal mappings, NaN equal to NaN."""
    if a.keys() != b.keys():
        return False
    for key, value in a.items():
        other = b[key]
        if value is None or other is None:
            if value is not other:
                return False
        elif not (float(value) == float(other) or (math.isnan(float(value)) and math.isnan(float(other)))):
            return False
    return True
