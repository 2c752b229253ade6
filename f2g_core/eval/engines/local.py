"""The local engine: several worker threads, each holding its own loaded pipeline, keep videos in flight.

torch releases the GIL in its kernels and a remote reward waits on the network, so while one video waits for its
LVLM answers another is denoising: with enough workers a 300 ms reward latency costs little throughput
(``benchmarks/eval_throughput.py``). Each thread owns its pipeline and metrics (nothing model-side is shared);
the run limits are one thread-safe object for the whole process.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from f2g_core.config import RunConfig
from f2g_core.errors import F2GError
from f2g_core.eval import limits
from f2g_core.eval.engines import OnFailure, OnResult
from f2g_core.eval.jobs import Job, JobResult, Worker


def describe(error: BaseException) -> str:
    return str(error) if isinstance(error, F2GError) else f"{type(error).__name__}: {error}"


class LocalEngine:
    """``workers`` threads in this process; torch gets ``cpu_count // workers`` threads each."""

    def __init__(
        self,
        configs: Mapping[str, RunConfig],
        metric_refs: Sequence[str],
        out: Path,
        workers: int = 1,
        run_limits: limits.RunLimits | None = None,
    ) -> None:
        self.configs = dict(configs)
        self.metric_refs = list(metric_refs)
        self.out = out
        self.workers = max(1, workers)
        self.run_limits = run_limits or limits.RunLimits()

    def _work(self, index: int, todo: queue.Queue[Job], done: queue.Queue[tuple[Job, JobResult | str]]) -> None:
        worker: Worker | None = None
        try:
            worker = Worker(self.configs, self.metric_refs, self.out, f"local-{index}")
            while True:
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    for row in worker.run([job]):
                        done.put((job, row))
                except Exception as error:  # one failed job must not stop the others
                    done.put((job, describe(error)))
        except Exception as error:  # the worker could not even start (a metric failed to build)
            message = describe(error)
            while True:
                try:
                    done.put((todo.get_nowait(), message))
                except queue.Empty:
                    return
        finally:
            if worker is not None:
                worker.close()

    def run(self, jobs: Sequence[Job], on_result: OnResult, on_failure: OnFailure) -> None:
        if self.workers > 1:
            import torch

            torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.workers))
        todo: queue.Queue[Job] = queue.Queue()
        for job in jobs:
            todo.put(job)
        done: queue.Queue[tuple[Job, JobResult | str]] = queue.Queue()
        limits.install(self.run_limits)
        threads = [
            threading.Thread(target=self._work, args=(i, todo, done), daemon=True, name=f"f2g-eval-{i}")
            for i in range(min(self.workers, len(jobs)))
        ]
        try:
            for thread in threads:
                thread.start()
            for _ in range(len(jobs)):
                job, outcome = done.get()
                if isinstance(outcome, str):
                    on_failure(job, outcome)
                else:
                    on_result(outcome)
            for thread in threads:
                thread.join()
        finally:
            while not todo.empty():  # on an interrupt: the (daemon) threads stop after their current job
                try:
                    todo.get_nowait()
                except queue.Empty:
                    break
            limits.install(None)
