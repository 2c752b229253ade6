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
from f2g_core.eval import limits
from f2g_core.eval.engines import OnFailure, OnResult
from f2g_core.eval.jobs import Job, JobResult, Worker, batches, describe


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
    ) -> None:
        self.configs = dict(configs)
        self.metric_refs = list(metric_refs)
        self.out = out
        self.workers = max(1, workers)
        self.run_limits = run_limits or limits.RunLimits()
        self.batch = batch

    def _work(self, index: int, todo: queue.Queue[list[Job]], done: queue.Queue[tuple[Job, JobResult | str]]) -> None:
        worker: Worker | None = None
        try:
            worker = Worker(self.configs, self.metric_refs, self.out, f"local-{index}")
            while True:
                try:
                    batch = todo.get_nowait()
                except queue.Empty:
                    return
                for job, outcome in worker.run(batch):
                    done.put((job, outcome))
        except Exception as error:  # the worker could not even start (a metric failed to build)
            message = describe(error)
            while True:
                try:
                    for job in todo.get_nowait():
                        done.put((job, message))
                except queue.Empty:
                    return
        finally:
            if worker is not None:
                worker.close()

    def run(self, jobs: Sequence[Job], on_result: OnResult, on_failure: OnFailure) -> None:
        if self.workers > 1:
            import torch

            torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.workers))
        todo: queue.Queue[list[Job]] = queue.Queue()
        for batch in batches(jobs, self.batch):
            todo.put(batch)
        done: queue.Queue[tuple[Job, JobResult | str]] = queue.Queue()
        limits.install(self.run_limits)
        threads = [
            threading.Thread(target=self._work, args=(i, todo, done), daemon=True, name=f"f2g-eval-{i}")
            for i in range(min(self.workers, todo.qsize()))
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
