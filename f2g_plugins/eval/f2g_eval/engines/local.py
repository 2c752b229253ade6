"""The local engine: several worker threads, each holding its own loaded pipeline, keep videos in flight.

torch releases the GIL in its kernels and a remote reward waits on the network, so while one video waits for its
LVLM answers another is denoising: with enough workers a 300 ms reward latency costs little throughput
(``benchmarks/eval_throughput.py``). Each thread owns its pipeline; its rewards and metrics are one loaded copy
per process shared by every thread (``f2g_eval.hosts``; ``share=False`` gives each thread its own copy, as
before). The run limits are one thread-safe object for the whole process.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from f2g_core.config import RunConfig

from f2g_eval import limits
from f2g_eval.engines import OnFailure, OnResult, not_run
from f2g_eval.hosts import HostPool
from f2g_eval.jobs import Failure, Finished, Job, Worker, batches, fail

Report = tuple[Job, Finished | Failure]


class LocalEngine:
    """``workers`` threads in this process, each sampling ``batch`` videos of one config at a time; torch gets
    ``cpu_count // workers`` threads each."""

    def __init__(
        self,
        configs: Mapping[str, RunConfig],
        metric_refs: Sequence[str],
        out: Path,
        workers: int = 1,
        run_limits: limits.RunLimits | None = None,
        batch: int = 1,
        share: bool = True,
    ) -> None:
        self.configs = dict(configs)
        self.share = share
        self.hosts: HostPool | None = None
        """The shared rewards and metrics of the current run (tests read their hosts' counters)."""
        self.metric_refs = list(metric_refs)
        self.out = out
        self.workers = max(1, workers)
        self.run_limits = run_limits or limits.RunLimits()
        self.batch = batch

    def _work(
        self, index: int, todo: queue.Queue[list[Job]], done: queue.Queue[Report], stopping: threading.Event
    ) -> None:
        """Take batches until none is left or a failure stops the run; every job taken is put on ``done`` exactly
        once (Worker.run never raises; the guard below covers a failure outside it)."""
        worker = Worker(self.configs, self.metric_refs, self.out, f"local-{index}", self.run_limits, self.hosts)
        try:
            while not stopping.is_set():
                try:
                    batch = todo.get_nowait()
                except queue.Empty:
                    return
                reported: set[tuple[str, int, str]] = set()
                try:
                    for job, outcome in worker.run(batch):
                        reported.add(job.key)
                        done.put((job, outcome))
                        if isinstance(outcome, Failure) and outcome.stop:
                            stopping.set()  # no thread starts another batch; the driver fails the rest
                except BaseException as error:  # this thread must report its batch whatever happens
                    failure = fail(error)
                    for job in batch:
                        if job.key not in reported:
                            done.put((job, failure))
        finally:
            worker.close()

    def run(self, jobs: Sequence[Job], on_result: OnResult, on_failure: OnFailure) -> Failure | None:
        if self.workers > 1:
            import torch

            torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.workers))
        todo: queue.Queue[list[Job]] = queue.Queue()
        for batch in batches(jobs, self.batch):
            todo.put(batch)
        done: queue.Queue[Report] = queue.Queue()
        stopping = threading.Event()
        self.hosts = HostPool(share=self.share)
        # Not daemon threads: at Ctrl-C the CLI ends the process at once (os._exit) when workers are alive, rather
        # than finalising the interpreter under a thread that is inside torch (which aborts with exit 134).
        threads = [
            threading.Thread(target=self._work, args=(i, todo, done, stopping), name=f"f2g-eval-{i}")
            for i in range(min(self.workers, todo.qsize()))
        ]
        waiting = {job.key: job for job in jobs}
        stop: Failure | None = None
        try:
            for thread in threads:
                thread.start()
            while waiting:
                try:
                    job, outcome = done.get(timeout=0.5)
                except queue.Empty:
                    if any(thread.is_alive() for thread in threads) or not done.empty():
                        continue
                    for job in waiting.values():  # every worker is gone: nothing more can come
                        on_failure(job, "its eval worker thread ended without reporting it")
                    break
                if waiting.pop(job.key, None) is None:
                    continue
                if isinstance(outcome, Failure):
                    on_failure(job, outcome.message)
                    if outcome.stop and stop is None:
                        stop = outcome
                        for batch in _drain(todo):
                            for other in batch:
                                waiting.pop(other.key, None)
                                on_failure(other, not_run(stop))
                else:
                    on_result(outcome)
            for thread in threads:
                thread.join()
        finally:
            _drain(todo)  # on an interrupt: the threads stop after their current job
            if not any(thread.is_alive() for thread in threads):  # a thread still inside a model keeps it
                self.hosts.close()
        return stop

    def usage(self) -> dict[str, float]:
        return self.run_limits.stats()


def _drain(todo: queue.Queue[list[Job]]) -> list[list[Job]]:
    """Take every batch not started yet off the queue."""
    taken = []
    while True:
        try:
            taken.append(todo.get_nowait())
        except queue.Empty:
            return taken
