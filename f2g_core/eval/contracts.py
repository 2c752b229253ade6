"""The contract every eval metric plugin inherits, beside the component contracts of :mod:`f2g_core.contracts`.

A metric plugin's test module subclasses :class:`MetricContract`, names its plugin and metric id (and, when the
metric scores only some prompts, an :attr:`MetricContract.item` it applies to)::

    from f2g_core.eval.contracts import MetricContract

    import f2g_plugin_shapes.plugin as plugin


    class TestShapesMetricContract(MetricContract):
        plugin = plugin
        component_id = "shapes"

Inherited checks: the plugin registers the metric (strictly), its ``Options`` forbid unknown keys and describe
every field, importing the plugin imports nothing heavy, the metric reports exactly its declared columns with a
number or None each, the same video scores the same twice (no randomness of its own, no state carried between
videos), and a video whose frames are not finite scores NaN or None, never a made-up number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from f2g_core.contracts import ComponentContract
from f2g_core.eval.hooks import collect
from f2g_core.eval.metrics import Metric
from f2g_core.eval.suites import SuiteItem
from f2g_core.interfaces import Component
from f2g_core.testing import isolated_plugins

__all__ = ["MetricContract"]


class MetricContract(ComponentContract):
    """Contract tests of an eval metric (set ``plugin``, ``component_id`` and, if needed, ``options`` and ``item``)."""

    kind: ClassVar[str] = "metric"
    item: ClassVar[SuiteItem] = SuiteItem(id="contract", prompt="a red circle moving right")
    """The prompt the contract's videos are scored for (pick one the metric applies to)."""
    fps: ClassVar[float | None] = 8.0
    """The frame rate passed to :meth:`~f2g_core.eval.metrics.Metric.measure_video`."""

    @classmethod
    def component_class(cls) -> type[Component]:
        plugins = isolated_plugins([(f"contract-{cls.component_id}", cls.plugin)], strict=True)
        metrics = collect("register_metrics", plugins)
        assert cls.component_id in metrics, (
            f"the plugin registers no metric {cls.component_id!r} through register_metrics "
            f"(it registers {sorted(metrics) or 'none'})"
        )
        return metrics[cls.component_id][1]

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
