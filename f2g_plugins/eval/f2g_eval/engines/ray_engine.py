"""The Ray engine: the same jobs on Ray actors that each hold a loaded pipeline, rows streamed to the driver.

Why plain actors rather than Ray Data's ``map_batches``: a job is one video of minutes, not a row of a table, and
what matters is that each finished video is committed at once and a lost one is redone exactly once. With actors
the driver sees every job finish (``ray.wait``), commits it to the store immediately, and when an actor dies
(its process killed, its node lost, a crash in native code) starts a replacement actor and puts that actor's
work back in the queue — a batch as single jobs, so that the job that killed it is found; a job whose actor dies
twice is recorded as failed with the reason and the run goes on. The store's primary key makes a duplicate
impossible even if a job were reported twice. Ray Data would buffer rows in blocks and retry whole tasks, which
is the wrong unit for resumability.

Per actor: one pipeline (model weights, reward clients, metrics), ``num_cpus`` / ``num_gpus`` resources. Shared
by all actors of a run: one named actor holding the remote rewards' concurrency limit and budget
(:class:`LimitsActor`), the host actors of the rewards and metrics named by ``--host`` (one loaded copy each, with
their own resources: ``ray_hosts.py``), and the eval directory, which must be on a filesystem every node sees.
"""

from __future__ import annotations

import os
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from f2g_core.config import RunConfig
from f2g_core.errors import ConfigError

from f2g_eval import limits
from f2g_eval.engines import OnFailure, OnResult, not_run
from f2g_eval.engines.ray_hosts import HostActor, stand_in
from f2g_eval.hosts import HostOptions, HostPool, hosted_components
from f2g_eval.jobs import Failure, Finished, Job, Worker, batches, describe

NAMESPACE = "f2g"
DEATHS_ALLOWED = 1
"""How many actor deaths one job may cause and still be retried: the second death fails it."""


class LimitsActor:
    """The run's :class:`~f2g_eval.limits.RunLimits`, held once for every actor (an async Ray actor)."""

    def __init__(self, max_concurrency: int | None, max_calls: int | None, max_cost_usd: float | None) -> None:
        self.limits = limits.RunLimits(max_concurrency, max_calls, max_cost_usd)

    async def acquire(self) -> None:
        await self.limits.acquire()

    async def release(self) -> None:
        self.limits.release()

    async def reserve(self, calls: int) -> bool:
        return await self.limits.reserve(calls)

    async def spend(self, cost_usd: float) -> None:
        self.limits.spend(cost_usd)

    async def stats(self) -> dict[str, Any]:
        return self.limits.stats()


class RayLimits:
    """An actor's run limits, handed to its pipelines: a client of the run's :class:`LimitsActor`."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self._paid = False

    def cost_unknown(self) -> bool:
        """Until this actor's first paid call: whether the run has a cost limit is the actor's to know, so an
        actor's first step sends one call alone (a little latency, once) rather than a whole step unpriced."""
        return not self._paid

    async def acquire(self) -> None:
        await self.handle.acquire.remote()

    def release(self) -> None:
        self.handle.release.remote()

    async def reserve(self, calls: int) -> bool:
        return bool(await self.handle.reserve.remote(calls))

    def spend(self, cost_usd: float) -> None:
        self._paid = True
        self.handle.spend.remote(cost_usd)


class EvalActor:
    """One engine slot on Ray: a :class:`~f2g_eval.jobs.Worker` in its own process."""

    def __init__(
        self,
        configs: Mapping[str, RunConfig],
        metric_refs: Sequence[str],
        out: str,
        name: str,
        limits_actor: Any,
        hosted: Mapping[str, list[Any]] | None = None,
    ) -> None:
        # components of host actors come as stand-ins; the others are this actor's own (it is one worker)
        clients = {key: stand_in(handles) for key, handles in (hosted or {}).items()}
        pool = HostPool(clients, share=False) if clients else None
        self.worker = Worker(configs, metric_refs, Path(out), f"{name}:{os.getpid()}", RayLimits(limits_actor), pool)

    def pid(self) -> int:
        return os.getpid()

    def run(self, batch: list[Job]) -> list[tuple[Job, Finished | Failure]]:
        return list(self.worker.run(batch))


class RayEngine:
    """Runs jobs on ``workers`` actors (0 = one per CPU of the cluster) of a local Ray or the one at ``address``,
    ``batch`` videos of one config per actor call."""

    def __init__(
        self,
        configs: Mapping[str, RunConfig],
        metric_refs: Sequence[str],
        out: Path,
        workers: int = 0,
        run_limits: limits.RunLimits | None = None,
        address: str | None = None,
        num_gpus: float = 0.0,
        batch: int = 1,
    ) -> None:
        self.configs = dict(configs)
        self.metric_refs = list(metric_refs)
        self.out = Path(out).resolve()
        self.workers = workers
        self.run_limits = run_limits or limits.RunLimits()
        self.address = address
        self.num_gpus = num_gpus
        self.batch = batch
        self.pids: dict[int, int] = {}
        """Actor slot -> process id of its current actor (tests kill one)."""
        self.restarts = 0
        """Actors replaced after dying."""
        self.stats: dict[str, Any] = {}
        """The shared limits' counters at the end of the run (calls, cost, most requests in flight)."""
        self.hosts: dict[str, HostOptions] = {}
        """``--host``: reward ids and metric names run on their own actors, with their resources."""
        self.host_stats: dict[str, list[dict[str, Any]]] = {}
        """Per hosted component (its key), each host actor's :meth:`~ray_hosts.HostActor.stats` at the end."""

    def _start_ray(self) -> bool:
        import ray

        if ray.is_initialized():
            return False
        if self.address:
            ray.init(address=self.address, namespace=NAMESPACE, log_to_driver=False)
        else:
            ray.init(
                num_cpus=os.cpu_count() or 1,
                namespace=NAMESPACE,
                include_dashboard=False,
                log_to_driver=False,
                object_store_memory=200 * 1024 * 1024,
            )
        return True

    def run(self, jobs: Sequence[Job], on_result: OnResult, on_failure: OnFailure) -> Failure | None:
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        hosted = hosted_components(self.configs, self.metric_refs, self.hosts) if self.hosts else {}
        host_cpus = sum(options.num_cpus * options.replicas for _, _, options in hosted.values())
        started = self._start_ray()
        cpus = float(ray.cluster_resources().get("CPU", 1))
        if hosted and host_cpus >= cpus:
            if started:
                ray.shutdown()
            raise ConfigError(
                f"--host: the host actors reserve {host_cpus:g} of the cluster's {cpus:g} CPUs, leaving none for "
                "sampling; lower their num_cpus (e.g. --host NAME:num_cpus=0.5)"
            )
        gate: Any = (  # Ray's stubs do not type actor handles made from a class at run time
            ray.remote(LimitsActor)
            .options(name=f"f2g-eval-limits-{uuid.uuid4().hex[:8]}")
            .remote(self.run_limits.max_concurrency, self.run_limits.max_calls, self.run_limits.max_cost_usd)
        )
        slots = max(1, min(self.workers or int(cpus - host_cpus), len(jobs)))
        # More actors than CPUs share them (videos in flight hide a remote reward's latency); each gets at most one
        per_actor = min(1.0, (cpus - host_cpus) / slots)
        actor_class: Any = ray.remote(EvalActor).options(num_cpus=per_actor, num_gpus=self.num_gpus, max_restarts=0)
        out = str(self.out)
        host_actors: dict[str, list[Any]] = {  # Ray's stubs do not type handles of classes made remote at run time
            key: [
                ray.remote(HostActor)
                .options(
                    num_cpus=options.num_cpus,
                    num_gpus=options.num_gpus,
                    max_concurrency=max(2, options.max_batch),  # threaded: waiting calls meet on the batching host
                    max_restarts=0,
                )
                .remote(kind, spec, options.max_batch)
                for _ in range(options.replicas)
            ]
            for key, (kind, spec, options) in hosted.items()
        }

        def start(slot: int) -> Any:
            actor = actor_class.remote(self.configs, self.metric_refs, out, f"ray-{slot}", gate, host_actors)
            try:
                self.pids[slot] = ray.get(actor.pid.remote())
            except RayActorError as error:
                raise RuntimeError(f"a Ray eval actor could not start: {error}") from error
            return actor

        actors: list[Any] = []
        queue = deque(batches(jobs, self.batch))
        pending: dict[Any, tuple[int, list[Job]]] = {}
        deaths: dict[tuple[str, int, str], int] = {}
        stop: Failure | None = None

        def stop_run(failure: Failure) -> None:
            nonlocal stop
            stop = stop or failure
            while queue:
                for job in queue.popleft():
                    on_failure(job, not_run(stop))

        try:
            actors += [start(slot) for slot in range(slots)]
            idle = deque(range(slots))
            while queue or pending:
                while queue and idle:
                    slot = idle.popleft()
                    batch = queue.popleft()
                    pending[actors[slot].run.remote(batch)] = (slot, batch)
                ready, _ = ray.wait(list(pending), num_returns=1)
                slot, batch = pending.pop(ready[0])
                try:
                    outcomes = ray.get(ready[0])
                except RayActorError as error:  # the actor died with this batch: a fresh actor redoes it
                    ray.kill(actors[slot], no_restart=True)
                    if len(batch) > 1:  # one at a time, so that a job that kills its actor fails alone
                        queue.extendleft([job] for job in reversed(batch))
                    elif deaths.get(batch[0].key, 0) < DEATHS_ALLOWED:
                        deaths[batch[0].key] = deaths.get(batch[0].key, 0) + 1
                        queue.appendleft(batch)
                    else:
                        on_failure(batch[0], _death(error))
                    if stop is not None:
                        stop_run(stop)
                    actors[slot] = start(slot)
                    self.restarts += 1
                except RayTaskError as error:  # not expected (Worker.run reports every failure), kept as a guard
                    message = describe(error.cause) if error.cause is not None else str(error)
                    for job in batch:
                        on_failure(job, message)
                else:
                    for job, outcome in outcomes:
                        if isinstance(outcome, Failure):
                            on_failure(job, outcome.message)
                            if outcome.stop:
                                stop_run(outcome)
                        else:
                            on_result(outcome)
                idle.append(slot)
            self.stats = ray.get(gate.stats.remote())
            self.host_stats = {
                key: ray.get([handle.stats.remote() for handle in handles]) for key, handles in host_actors.items()
            }
        finally:
            for actor in [*actors, *(handle for handles in host_actors.values() for handle in handles)]:
                ray.kill(actor, no_restart=True)
            ray.kill(gate, no_restart=True)
            if started:
                ray.shutdown()
        return stop

    def usage(self) -> dict[str, float]:
        return dict(self.stats)


def _death(error: BaseException) -> str:
    """A job whose actor died each time it ran, with Ray's reason cut to its first line."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (
        f"its Ray actor died each of {DEATHS_ALLOWED + 1} times it ran (killed, out of memory, or a crash in native "
        f"code); not retried again. Ray: {reason[:300]}"
    )
