"""Rewards and metrics shared by the eval's workers: one loaded copy per process (or per Ray actor) for all.

A :class:`HostPool` is what the workers of one engine share. Asked for a reward (built by a worker's pipeline) or a
metric (by its ``--metric`` reference), it returns one instance per distinct component — same type and options,
or same reference — for every worker:

* by default a :class:`~f2g_core.hosting.SharedReward` / :class:`SharedMetric`: the one copy on a batching host
  thread in this process (the local engine's threads);
* for a component named by ``--host`` under the Ray engine, a client of its own Ray actor
  (``f2g_eval.engines.ray_hosts``): one copy for every sampling actor of the run.

A reward that calls a remote service (:class:`~f2g_core.interfaces.AsyncReward`) holds only a client and keeps
its per-video accounting per worker: it is never shared.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from f2g_core.errors import ConfigError
from f2g_core.hosting import BatchingHost, SharedReward, each
from f2g_core.interfaces import AsyncReward, Component, Reward
from f2g_core.pipeline import Pipeline
from f2g_core.registry import format_validation_error
from pydantic import Field

from f2g_eval.metrics import Metric, RewardMetric, build_metric
from f2g_eval.refs import parse_ref
from f2g_eval.suites import SuiteItem

MAX_BATCH = 64
"""Requests one call of a shared model takes at most."""

MeasureRequest = tuple[SuiteItem, np.ndarray, float | None]


class SharedMetric(Metric):
    """One loaded metric measuring for every worker of a process, its requests queued on a batching host."""

    name = "shared"

    def __init__(self, metric: Metric, max_batch: int = MAX_BATCH) -> None:
        super().__init__(metric.options)
        self.metric = metric
        self.name = metric.name  # type: ignore[misc]  # columns and messages read as the hosted metric's
        self.dimensions = metric.dimensions  # type: ignore[misc]
        self.related_rewards = metric.related_rewards  # type: ignore[misc]
        self.version = metric.version  # type: ignore[misc]  # its scores are the hosted metric's
        self.host: BatchingHost[MeasureRequest, Mapping[str, float | None]] = BatchingHost(
            each(self._measure), f"metric {metric.name!r}", max_batch
        )
        self._loading = threading.Lock()
        self._loaded = False

    def _measure(self, request: MeasureRequest) -> Mapping[str, float | None]:
        return self.metric.measure_video(*request)

    def load(self) -> None:
        with self._loading:
            if not self._loaded:
                self.metric.load()
                self._loaded = True

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        return self.measure_video(item, video, None)

    def measure_video(self, item: SuiteItem, video: np.ndarray, fps: float | None) -> Mapping[str, float | None]:
        return self.host((item, video, fps))

    def close(self) -> None:
        """Nothing: other workers still measure with it (see :meth:`shutdown`)."""

    def shutdown(self) -> None:
        self.host.close()
        self.metric.close()


def reward_key(reward: Reward) -> str:
    """What makes two rewards the same model: their id and validated options."""
    return f"reward {reward.name} {json.dumps(reward.options.model_dump(mode='json'), sort_keys=True)}"


def metric_key(ref: str) -> str:
    return f"metric {ref}"


def shareable(component: Component) -> bool:
    """Whether sharing saves a model: not a remote reward's client (cheap, and accounted per worker)."""
    reward = component.reward if isinstance(component, RewardMetric) else component
    return not isinstance(reward, AsyncReward)


Client = Callable[[Component], Component]
"""Makes the stand-in of a component hosted elsewhere (a Ray actor) from the unloaded component."""


class HostPool:
    """The rewards and metrics the workers of one process share, built on first request, shut down by
    :meth:`close` when every worker is done.

    ``clients``: keys (:func:`reward_key`, :func:`metric_key`) of components hosted elsewhere and how to make their
    stand-ins. ``share``: whether the other components are shared in this process (False: each worker keeps its
    own, as before hosts existed — what ``--private-models`` and the benchmark's baseline ask for).
    """

    def __init__(self, clients: Mapping[str, Client] | None = None, share: bool = True) -> None:
        self.clients = dict(clients or {})
        self.share = share
        self._shared: dict[str, Component] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _get(self, key: str, component: Component) -> Component:
        if key in self.clients:
            make = self.clients[key]
        elif self.share and shareable(component):
            make = _shared
        else:
            return component
        with self._lock:
            if key not in self._shared:
                self._shared[key] = make(component)
            return self._shared[key]

    def reward(self, reward: Reward) -> Reward:
        shared = self._get(reward_key(reward), reward)
        assert isinstance(shared, Reward)
        return shared

    def metric(self, ref: str) -> Metric:
        metric = build_metric(ref)
        shared = self._get(metric_key(ref), metric)
        assert isinstance(shared, Metric)
        return shared

    def share_rewards(self, pipeline: Pipeline) -> None:
        """Put the pool's instances in place of ``pipeline``'s rewards (before it loads)."""
        pipeline.rewards = {name: self.reward(reward) for name, reward in pipeline.rewards.items()}

    def components(self) -> list[Component]:
        """The shared instances made so far (kept after :meth:`close`, for their counters)."""
        with self._lock:
            return list(self._shared.values())

    def close(self) -> None:
        """Stop every host and release its model (best effort: closing never fails a run)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            shared = list(self._shared.values())
        for component in shared:
            try:
                stop = getattr(component, "shutdown", component.close)
                stop()
            except Exception:  # a close that fails leaves nothing to keep
                pass


def _shared(component: Component) -> Component:
    if isinstance(component, Reward):
        return SharedReward(component, MAX_BATCH)
    assert isinstance(component, Metric)
    return SharedMetric(component, MAX_BATCH)


class HostOptions(Component.Options):
    """Where a ``--host`` component runs (the Ray engine)."""

    num_cpus: float = Field(1.0, ge=0, description="CPUs each host actor reserves.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs each host actor reserves (0.5: two hosts per GPU).")
    replicas: int = Field(1, ge=1, description="Host actors of this component; requests go to each in turn.")
    max_batch: int = Field(MAX_BATCH, ge=1, description="Requests one call of the model takes at most.")


def parse_host(ref: str) -> tuple[str, HostOptions]:
    """``NAME[:num_gpus=1,num_cpus=2,replicas=2,max_batch=32]`` of ``--host``: a reward id or metric name."""
    from pydantic import ValidationError

    name, options = parse_ref(ref, "--host")
    try:
        return name, HostOptions.model_validate(options)
    except ValidationError as error:
        raise ConfigError(f"--host {ref!r}: {format_validation_error(error)}") from None


def hosted_components(
    configs: Mapping[str, Any], metric_refs: list[str], hosts: Mapping[str, HostOptions]
) -> dict[str, tuple[str, dict[str, Any], HostOptions]]:
    """Every component ``hosts`` names, by key: ``("reward", {type, options})`` for a reward of a config, or
    ``("metric", {ref})``, with its host options. A name that matches nothing is a configuration error."""
    found: dict[str, tuple[str, dict[str, Any], HostOptions]] = {}
    matched: set[str] = set()
    for config in configs.values():
        pipeline = Pipeline.from_config(config)  # builds, loads nothing: the rewards' validated options
        for reward in pipeline.rewards.values():
            if reward.name in hosts:
                matched.add(reward.name)
                spec = {"type": reward.name, "options": reward.options.model_dump(mode="json")}
                found[reward_key(reward)] = ("reward", spec, hosts[reward.name])
    for ref in metric_refs:
        name = parse_ref(ref, "--metric")[0]
        if name in hosts:
            matched.add(name)
            found[metric_key(ref)] = ("metric", {"ref": ref}, hosts[name])
    unmatched = sorted(set(hosts) - matched)
    if unmatched:
        raise ConfigError(
            f"--host {', '.join(unmatched)}: no reward of the configs and no --metric has that name; name a reward "
            "id a config guides with (e.g. clip) or a --metric"
        )
    return found
