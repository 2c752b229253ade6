"""Metrics: held-out scorers of finished videos, each with one or more named dimensions.

A plugin registers a :class:`Metric` (several dimensions, e.g. the shapes evaluator's object class, colour,
motion, …); any registered reward also serves as a one-dimension metric on key frames of the final video. A
metric that is also one of a config's rewards is no longer held out: the eval warns about it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np
from pydantic import ValidationError

from f2g_core.config import RunConfig
from f2g_core.errors import ConfigError
from f2g_core.eval.hooks import collect
from f2g_core.eval.refs import parse_ref
from f2g_core.eval.suites import SuiteItem
from f2g_core.interfaces import Component, Reward, RewardBatch, StepInfo
from f2g_core.plugins import default_plugins
from f2g_core.registry import format_validation_error


class Metric(Component):
    """Scores one finished video; subclasses set ``name`` and :attr:`dimensions` and implement :meth:`measure`."""

    dimensions: ClassVar[tuple[str, ...]] = ()
    """The dimensions :meth:`measure` reports, in table order."""
    related_rewards: ClassVar[tuple[str, ...]] = ()
    """Reward ids that score with the same rule: guiding with one of them makes this metric not held out."""

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        """Values per dimension (None where the dimension does not apply to this prompt, NaN when it failed).

        ``video`` is (frames, height, width, 3) float32 in [0, 1].
        """
        raise NotImplementedError

    def measure_video(self, item: SuiteItem, video: np.ndarray, fps: float | None) -> Mapping[str, float | None]:
        """:meth:`measure` given also the video's frame rate (the backbone's, None when unknown); what the eval
        calls. Metrics that sample frames by time override this one."""
        return self.measure(item, video)

    def columns(self) -> list[str]:
        """Column names in results: ``metric.dimension``, or the metric name alone for a single dimension."""
        dims = self.dimensions or (self.name,)
        return [self.name] if dims == (self.name,) else [f"{self.name}.{d}" for d in dims]


class RewardMetric(Metric):
    """Any reward as a metric: the mean over the prompt of its score of key frames of the final video."""

    name = "reward"

    def __init__(self, reward: Reward, label: str) -> None:
        super().__init__()
        self.reward = reward
        self.name = label  # type: ignore[misc]
        self.dimensions = (label,)  # type: ignore[misc]
        self.related_rewards = (reward.name,)  # type: ignore[misc]

    def load(self) -> None:
        self.reward.load()

    def close(self) -> None:
        self.reward.close()

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        return self.measure_video(item, video, None)

    def measure_video(self, item: SuiteItem, video: np.ndarray, fps: float | None) -> Mapping[str, float | None]:
        from f2g_core.sampling import default_key_frames  # sampling imports torch: listing the metrics must not

        frames = default_key_frames(video.shape[0])
        batch = RewardBatch(
            prompt=item.prompt,
            frames=np.asarray(video)[None, frames],
            frame_indices=tuple(frames),
            num_frames=int(video.shape[0]),
            step=StepInfo.final(1),
            fps=fps,
        )
        value = float(self.reward.score(batch)[0])
        return {self.name: value if math.isfinite(value) else math.nan}


def registered_metrics() -> dict[str, tuple[str, type[Metric]]]:
    return collect("register_metrics")


def build_metric(ref: str) -> Metric:
    """A metric by ``NAME[:key=value,...]``: a registered metric, else a registered reward used as one."""
    name, options = parse_ref(ref, "metric")
    metrics = registered_metrics()
    if name in metrics:
        cls = metrics[name][1]
        try:
            return cls(cls.Options.model_validate(options))
        except ValidationError as error:
            raise ConfigError(f"--metric {name}: {format_validation_error(error)}") from None
    rewards = default_plugins().registry
    if name in rewards.entries["reward"]:
        reward = rewards.build("reward", name, options, f"--metric {name}")
        assert isinstance(reward, Reward)
        return RewardMetric(reward, name)
    known = sorted({*metrics, *rewards.names("reward")})
    raise ConfigError(f"--metric {name!r}: no metric or reward of that name (available: {', '.join(known) or 'none'})")


def not_held_out(metrics: Sequence[Metric], configs: Mapping[str, RunConfig]) -> list[str]:
    """A warning for every metric that a config also guides with."""
    warnings = []
    for metric in metrics:
        related = {metric.name, *metric.related_rewards}
        for config_name, config in configs.items():
            used = related & {reward.type for reward in config.rewards}
            if used:
                warnings.append(
                    f"metric {metric.name!r} is not held out from config {config_name!r}, which guides with "
                    f"{', '.join(sorted(used))}: its scores on that config are optimistic"
                )
    return warnings
