"""One concurrency limit and one budget for the remote rewards of a whole eval run, shared by every worker.

A reward's own ``max_concurrency`` / ``max_calls`` / ``max_cost_usd`` are per reward instance, i.e. per worker
thread or Ray actor; with eight workers that would be eight times the limit a provider account allows. An eval
run therefore installs one :class:`RunLimits` in each worker process (the local engine: one object shared by its
threads; the Ray engine: a client of one named actor holding the counters) and the LVLM reward base asks it,
through the three helpers below, before every request:

* :func:`call_slot` — at most ``max_concurrency`` remote requests in flight across the run;
* :func:`reserve_calls` — the calls a step needs fit the run's ``max_calls`` and, at the mean cost of the calls
  so far (the calls reserved and not yet paid included), its ``max_cost_usd``, else
  :class:`~f2g_core.errors.BudgetExceeded` (the video finishes unguided, as with a reward's own budget);
* :func:`record_cost` — what a finished request cost;
* :func:`cost_unknown` — a cost limit is set but no call has been paid yet: the reward then sends one call alone
  before the rest of its step, so the run's spend is never overshot by a whole step of unknown cost.

With nothing installed (plain ``f2g generate``) the helpers do nothing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from f2g_core.errors import BudgetExceeded


class Limits(Protocol):
    async def acquire(self) -> None: ...
    def release(self) -> None: ...
    async def reserve(self, calls: int) -> bool: ...
    def spend(self, cost_usd: float) -> None: ...
    def cost_unknown(self) -> bool: ...


class RunLimits:
    """Thread-safe counters of one eval run (usable from any thread and any event loop)."""

    def __init__(
        self, max_concurrency: int | None = None, max_calls: int | None = None, max_cost_usd: float | None = None
    ) -> None:
        self.max_concurrency = max_concurrency
        self.max_calls = max_calls
        self.max_cost_usd = max_cost_usd
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls = 0
        """Calls reserved (made or still to be made)."""
        self.paid = 0
        """Calls whose cost was recorded."""
        self.cost_usd = 0.0
        self.refused = 0

    def try_acquire(self) -> bool:
        with self._lock:
            if self.max_concurrency is not None and self.in_flight >= self.max_concurrency:
                return False
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return True

    async def acquire(self) -> None:
        # Polling keeps this free of any one event loop: each worker thread runs its own loop.
        while not self.try_acquire():
            await asyncio.sleep(0.002)

    def release(self) -> None:
        with self._lock:
            self.in_flight -= 1

    async def reserve(self, calls: int) -> bool:
        with self._lock:
            over_calls = self.max_calls is not None and self.calls + calls > self.max_calls
            mean = self.cost_usd / self.paid if self.paid else 0.0
            committed = self.cost_usd + max(0, self.calls - self.paid) * mean  # reserved calls not yet paid
            over_cost = self.max_cost_usd is not None and (
                self.cost_usd >= self.max_cost_usd or committed + calls * mean > self.max_cost_usd + 1e-12
            )
            if over_calls or over_cost:
                self.refused += 1
                return False
            self.calls += calls
            return True

    def spend(self, cost_usd: float) -> None:
        with self._lock:
            self.cost_usd += cost_usd
            self.paid += 1

    def cost_unknown(self) -> bool:
        with self._lock:
            return self.max_cost_usd is not None and self.paid == 0

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": self.calls,
                "cost_usd": self.cost_usd,
                "max_in_flight": self.max_in_flight,
                "refused": self.refused,
            }


_installed: Limits | None = None


def install(limits: Limits | None) -> None:
    """Make ``limits`` the run limits of this process (None removes them)."""
    global _installed
    _installed = limits


def installed() -> Limits | None:
    return _installed


@asynccontextmanager
async def call_slot() -> AsyncIterator[None]:
    """Hold one of the run's remote-request slots for the duration of a request."""
    limits = _installed
    if limits is None:
        yield
        return
    await limits.acquire()
    try:
        yield
    finally:
        limits.release()


async def reserve_calls(calls: int, who: str) -> None:
    """Reserve ``calls`` requests of the run's budget, or raise BudgetExceeded."""
    limits = _installed
    if limits is not None and not await limits.reserve(calls):
        raise BudgetExceeded(
            f"{who}: the eval run's shared budget (--max-calls / --max-cost-usd) is spent: "
            "guidance stops and the video finishes unguided"
        )


def record_cost(cost_usd: float) -> None:
    """Record one answered call and its cost (0 for unpriced models: the call still counts towards the mean)."""
    limits = _installed
    if limits is not None:
        limits.spend(cost_usd)


def cost_unknown() -> bool:
    """Whether the run has a cost limit but no call was paid yet, so the cost of a call cannot be estimated."""
    limits = _installed
    return limits is not None and limits.cost_unknown()
