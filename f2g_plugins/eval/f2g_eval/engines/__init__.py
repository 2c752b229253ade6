"""Engines run jobs and hand each finished one to the driver, which commits it to the store.

Both engines take the same inputs — the configs by hash, the metric references, the eval directory, the run
limits — and call ``on_result(finished)`` (a new video and its scores, or new scores of a stored video) /
``on_failure(job, message)`` on the driver's thread, one job at a time, so the store has a single writer. Each
job is reported exactly once, whatever breaks: an engine never waits for a report that cannot come. A failure
that would repeat for every job (:attr:`~f2g_eval.jobs.Failure.stop`) stops the run: jobs not yet started are
reported failed ("not run") and ``run`` returns that failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from f2g_eval.jobs import Failure, Finished, Job

OnResult = Callable[[Finished], None]
OnFailure = Callable[[Job, str], None]


class Engine(Protocol):
    def run(self, jobs: Sequence[Job], on_result: OnResult, on_failure: OnFailure) -> Failure | None:
        """Run every job; return when each has produced a row or a failure, with the failure that stopped the run
        early, if one did."""

    def usage(self) -> dict[str, float]:
        """The run limits' counters after :meth:`run`: remote-reward calls made, their cost, requests refused."""


def not_run(stop: Failure) -> str:
    """The failure of a job that a stopped run never started."""
    return f"not run: the run stopped ({stop.message})"
