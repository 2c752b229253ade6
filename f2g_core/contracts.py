"""Contract tests every reward and backbone plugin inherits (in the spirit of diffusers' PipelineTesterMixin).

A plugin's test module subclasses :class:`RewardContract` or :class:`BackboneContract`, names its component and
how to build a small offline instance, and pytest collects the inherited tests with it::

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
decode exactly the frames asked for, in the order asked, matching the whole-video decode. Class attributes tune
tolerances and opt out of what a component documents it does not do.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pytest
from pydantic import BaseModel

from f2g_core.interfaces import Backbone, Component, Reward, RewardBatch
from f2g_core.testing import assert_close_to_scale, isolated_plugins, textured_batch

__all__ = ["BackboneContract", "ComponentContract", "RewardContract"]

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
