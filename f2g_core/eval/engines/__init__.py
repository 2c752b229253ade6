"""Engines run jobs and hand each finished row to the driver, which commits it to the store.

Both engines take the same inputs — the configs by hash, the metric references, the eval directory, the run
limits — and call ``on_result(row)`` / ``on_failure(job, message)`` on the driver's thread, one job at a time, so
the store has a single writer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from f2g_core.eval.jobs import Job, JobResult

OnResult = Callable[[JobResult], None]
OnFailure = Callable[[Job, str], None]


class Engine(Protocol):
    def run(self, jobs: Sequence[Job], on_result: OnResult, on_failure: OnFailure) -> None:
        """Run every job; return when each has produced a row or a failure."""
