"""Metrics: held-out scorers of finished videos, each with one or more named dimensions.

A plugin registers a :class:`Metric` (several dimensions, e.g. the shapes evaluator's object class, colour,
motion, …); any registered reward also serves as a one-dimension metric on key frames of the final video. A
metric that is also one of a config's rewards is no longer held out: the eval warns about it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np
from f2g_core.config import RunConfig
from f2g_core.errors import ConfigError
from f2g_core.evaluation import Metric, SuiteItem
from f2g_core.interfaces import Reward, RewardBatch, StepInfo
from f2g_core.plugins import default_plugins
from f2g_core.registry import format_validation_error
from pydantic import ValidationError

from f2g_eval.refs import parse_ref


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


def registered_metrics() -> dict[str, type[Metric]]:
    """Metrics registered by plugins (``name -> class``; the one registry, aliases included)."""
    registry = default_plugins().registry
    return {key: cast("type[Metric]", entry.cls) for key, entry in registry.entries["metric"].items()}


def build_metric(ref: str) -> Metric:
    """A metric by ``NAME[:key=value,...]``: a registered metric, else a registered reward used as one."""
    name, options = parse_ref(ref, "metric")
    registry = default_plugins().registry
    if name in registry.clashes["metric"]:  # two installed distributions register it and F2G_PREFER chooses neither
        raise ConfigError(f"--metric {name}: {registry.clashes['metric'][name]}")
    metrics = registered_metrics()
    if name in metrics:
        cls = metrics[name]
        try:
            return cls(cls.Options.model_validate(options))
        except ValidationError as error:
            raise ConfigError(f"--metric {name}: {format_validation_error(error)}") from None
    if name in registry.entries["reward"]:
        reward = registry.build("reward", name, options, f"--metric {name}")
        assert isinstance(reward, Reward)
        return RewardMetric(reward, name)
    known = sorted({*metrics, *registry.names("reward")})
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
