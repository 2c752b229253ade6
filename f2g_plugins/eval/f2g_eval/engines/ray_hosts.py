"""Rewards and metrics on their own Ray actors (``f2g eval --engine ray --host NAME[:num_gpus=…]``).

Without a host every sampling actor of the Ray engine loads its own copy of every reward and metric. A component
named by ``--host`` instead runs in a :class:`HostActor` (or ``replicas`` of them) with its own ``num_cpus`` and
``num_gpus``: one loaded copy for the whole run. The actor is threaded, so the calls of every sampling actor reach
the component's :class:`~f2g_core.hosting.BatchingHost` at once and those that wait are batched into one call.
Sampling actors hold a stand-in (:class:`HostedReward`, :class:`HostedMetric`) that sends each request to the
replicas in turn; a failure inside the host comes back as the component's own exception.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from f2g_core.hosting import SharedReward
from f2g_core.interfaces import Component, Reward, RewardBatch
from f2g_core.plugins import default_plugins

from f2g_eval.hosts import SharedMetric
from f2g_eval.metrics import Metric, build_metric
from f2g_eval.suites import SuiteItem


class HostActor:
    """One reward (``kind`` "reward": ``spec`` {type, options}) or metric (``spec`` {ref}) for every sampling actor."""

    def __init__(self, kind: str, spec: Mapping[str, Any], max_batch: int) -> None:
        self.component: SharedReward | SharedMetric
        if kind == "reward":
            reward = default_plugins().registry.build("reward", spec["type"], spec["options"], "--host")
            assert isinstance(reward, Reward)
            self.component = SharedReward(reward, max_batch)
        else:
            self.component = SharedMetric(build_metric(spec["ref"]), max_batch)
        self.callers: set[str] = set()
        self._lock = threading.Lock()

    def load(self) -> None:
        self.component.load()

    def _seen(self, caller: str) -> None:
        with self._lock:
            self.callers.add(caller)

    def score(self, batch: RewardBatch, caller: str) -> list[float]:
        self._seen(caller)
        assert isinstance(self.component, SharedReward)
        return [float(x) for x in self.component.score(batch)]

    def measure(self, item: SuiteItem, video: np.ndarray, fps: float | None, caller: str) -> Mapping[str, float | None]:
        self._seen(caller)
        assert isinstance(self.component, SharedMetric)
        return dict(self.component.measure_video(item, video, fps))

    def stats(self) -> dict[str, Any]:
        """Where the copy lives and what it served: process id, requests, calls, largest batch, callers."""
        host = self.component.host
        with self._lock:
            callers = sorted(self.callers)
        return {
            "pid": os.getpid(),
            "requests": host.requests,
            "calls": host.calls,
            "largest_batch": host.largest_batch,
            "callers": callers,
        }

    def shutdown(self) -> None:
        self.component.shutdown()


def _get(ref: Any) -> Any:
    """``ray.get`` with a failure inside the host raised as its own exception (not Ray's wrapper)."""
    import ray
    from ray.exceptions import RayTaskError

    try:
        return ray.get(ref)
    except RayTaskError as error:
        if error.cause is not None:
            raise error.cause from None
        raise


class _Replicas:
    """The host actors of one component, used in turn."""

    def __init__(self, handles: Sequence[Any]) -> None:
        self.handles = list(handles)
        self._turn = itertools.count()
        self.caller = f"{os.getpid()}"

    def next(self) -> Any:
        return self.handles[next(self._turn) % len(self.handles)]

    def load(self) -> None:
        for ref in [handle.load.remote() for handle in self.handles]:
            _get(ref)


class HostedReward(Reward):
    """A sampling actor's stand-in for a reward on host actors: checks locally, scores remotely."""

    name = "hosted"

    def __init__(self, reward: Reward, handles: Sequence[Any]) -> None:
        super().__init__(reward.options)
        self.reward = reward  # built, never loaded: its key-frame checks and trace facts need no model
        self.name = reward.name  # type: ignore[misc]
        self.replicas = _Replicas(handles)

    def load(self) -> None:
        self.replicas.load()

    def score(self, batch: RewardBatch) -> Sequence[float]:
        return list(_get(self.replicas.next().score.remote(batch, self.replicas.caller)))

    def check_key_frames(self, frame_indices: Sequence[int], num_frames: int) -> None:
        self.reward.check_key_frames(frame_indices, num_frames)

    def trace_info(self) -> Mapping[str, Any]:
        return {**self.reward.trace_info(), "host": "ray actor"}


class HostedMetric(Metric):
    """A sampling actor's stand-in for a metric on host actors."""

    name = "hosted"

    def __init__(self, metric: Metric, handles: Sequence[Any]) -> None:
        super().__init__(metric.options)
        self.name = metric.name  # type: ignore[misc]
        self.dimensions = metric.dimensions  # type: ignore[misc]
        self.related_rewards = metric.related_rewards  # type: ignore[misc]
        self.version = metric.version  # type: ignore[misc]  # its scores are the hosted metric's
        self.replicas = _Replicas(handles)

    def load(self) -> None:
        self.replicas.load()

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        return self.measure_video(item, video, None)

    def measure_video(self, item: SuiteItem, video: np.ndarray, fps: float | None) -> Mapping[str, float | None]:
        return dict(_get(self.replicas.next().measure.remote(item, video, fps, self.replicas.caller)))


def stand_in(handles: Sequence[Any]) -> Any:
    """How a sampling actor makes the stand-in of a hosted component from the component it built."""

    def make(component: Component) -> Component:
        if isinstance(component, Reward):
            return HostedReward(component, handles)
        assert isinstance(component, Metric)
        return HostedMetric(component, handles)

    return make
