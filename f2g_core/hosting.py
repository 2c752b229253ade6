"""One loaded model serving many callers: a host thread that batches the requests waiting for it.

Why: a reward or metric model is large, and before this every eval worker (a thread of the local engine) built and
loaded its own copy — four workers, four copies in memory. A :class:`BatchingHost` owns the one copy. Callers
(any number of threads) submit a request and wait on its :class:`~concurrent.futures.Future`; the host's single
thread takes the first waiting request and every other request already queued (at most ``max_batch``) and hands
them to ``run_many`` in one call.

There is no timer: the host never waits for a batch to fill, so batching adds no latency. Requests queue only while
the model is busy, which is exactly when a larger batch pays. ``run_many`` may return an exception in place of a
result (that request alone fails); if it raises, each request of the batch is run again alone, so one bad request
fails alone and the others still get their answer.

:class:`SharedReward` is the reward on such a host; ``f2g_eval.hosts`` adds the metric and the per-process
pool the eval's workers share, and ``f2g serve reward`` puts one behind HTTP.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from f2g_core.interfaces import Reward, RewardBatch

Req = TypeVar("Req")
Res = TypeVar("Res")


class BatchingHost(Generic[Req, Res]):
    """A thread that runs ``run_many`` on the requests waiting for it, at most ``max_batch`` at a time."""

    def __init__(self, run_many: Callable[[list[Req]], Sequence[Res | BaseException]], name: str, max_batch: int = 64):
        self.run_many = run_many
        self.name = name
        self.max_batch = max(1, max_batch)
        self._queue: queue.SimpleQueue[tuple[Req, Future[Res]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._closed = False
        self.requests = 0
        """Requests answered so far."""
        self.calls = 0
        """Calls of ``run_many`` so far (fewer than :attr:`requests` when requests were batched)."""
        self.largest_batch = 0
        """The most requests one call of ``run_many`` took."""

    def submit(self, request: Req) -> Future[Res]:
        """Queue ``request``; its future holds the result (or the exception it raised)."""
        with self._start:
            if self._closed:
                raise RuntimeError(f"the shared host of {self.name} is closed")
            if self._thread is None:
                # A daemon thread: callers wait on futures, so nothing is lost if the process ends while it waits.
                self._thread = threading.Thread(target=self._serve, name=f"f2g-host-{self.name}", daemon=True)
                self._thread.start()
        future: Future[Res] = Future()
        self._queue.put((request, future))
        return future

    def __call__(self, request: Req) -> Res:
        """The result of ``request`` (blocks until the host has run it)."""
        return self.submit(request).result()

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            waiting = [first]
            while len(waiting) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:  # close() asked while requests were queued: answer them, then stop
                    self._run(waiting)
                    return
                waiting.append(more)
            self._run(waiting)

    def _run(self, waiting: list[tuple[Req, Future[Res]]]) -> None:
        live = [(request, future) for request, future in waiting if future.set_running_or_notify_cancel()]
        if not live:
            return
        self.calls += 1
        self.requests += len(live)
        self.largest_batch = max(self.largest_batch, len(live))
        try:
            results = list(self.run_many([request for request, _ in live]))
            if len(results) != len(live):
                raise RuntimeError(f"{self.name} answered {len(results)} of {len(live)} requests")
        except BaseException as error:  # the host thread must answer every request, whatever the model does
            if len(live) > 1:
                for one in live:  # one at a time, so that a bad request fails alone
                    self._run_alone(one)
                return
            results = [error]
        for (_, future), result in zip(live, results, strict=True):
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _run_alone(self, item: tuple[Req, Future[Res]]) -> None:
        request, future = item
        self.calls += 1
        try:
            result = self.run_many([request])[0]
        except BaseException as error:
            result = error
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)

    def close(self) -> None:
        """Answer what is queued, then stop the thread (idempotent)."""
        with self._start:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()


def each(function: Callable[[Req], Res]) -> Callable[[list[Req]], list[Res | BaseException]]:
    """A ``run_many`` that calls ``function`` per request, each exception kept as that request's answer."""

    def run_many(requests: list[Req]) -> list[Res | BaseException]:
        results: list[Res | BaseException] = []
        for request in requests:
            try:
                results.append(function(request))
            except BaseException as error:  # SystemExit from a plugin fails its request, not the host
                results.append(error)
        return results

    return run_many


class SharedReward(Reward):
    """One loaded reward serving every caller of a process: requests batched on a :class:`BatchingHost`.

    The host hands the reward every batch that arrived while it was busy through
    :meth:`~f2g_core.interfaces.Reward.score_many` (one call, several prompts), so scores are the reward's own:
    equal to a private instance's where ``score_many`` is the default loop, and within the tolerance the reward
    documents where it overrides it. ``close()`` does nothing (each pipeline closes its rewards); the owner of
    the host calls :meth:`shutdown` once every caller is done.
    """

    name = "shared"

    def __init__(self, reward: Reward, max_batch: int = 64) -> None:
        super().__init__(reward.options)
        self.reward = reward
        self.name = reward.name  # type: ignore[misc]  # reads as the reward it hosts (traces, messages)
        self.host: BatchingHost[RewardBatch, Sequence[float]] = BatchingHost(
            self._score_many, f"reward {reward.name!r}", max_batch
        )
        self._loading = threading.Lock()
        self._loaded = False

    def _score_many(self, batches: list[RewardBatch]) -> Sequence[Sequence[float]]:
        return self.reward.score_many(batches)

    def load(self) -> None:
        with self._loading:  # every worker's pipeline asks; the model loads once
            if not self._loaded:
                self.reward.load()
                self._loaded = True

    def score(self, batch: RewardBatch) -> Sequence[float]:
        return self.host(batch)

    def score_many(self, batches: Sequence[RewardBatch]) -> list[Sequence[float]]:
        futures = [self.host.submit(batch) for batch in batches]
        return [future.result() for future in futures]

    def check_key_frames(self, frame_indices: Sequence[int], num_frames: int) -> None:
        self.reward.check_key_frames(frame_indices, num_frames)

    def usage(self) -> Mapping[str, float]:
        return self.reward.usage()

    def trace_info(self) -> Mapping[str, Any]:
        return self.reward.trace_info()

    def close(self) -> None:
        """Nothing: the reward serves other callers still (see :meth:`shutdown`)."""

    def shutdown(self) -> None:
        """Stop the host and release the reward."""
        self.host.close()
        self.reward.close()
