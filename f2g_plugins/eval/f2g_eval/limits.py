"""One concurrency limit and one budget for the remote rewards of a whole eval run, shared by every worker.

A reward's own limits are per reward instance, i.e. per worker thread or Ray actor; with eight workers that would be
eight times the limit a provider account allows. An eval run therefore builds every pipeline with one
:class:`RunLimits` (the local engine: one object shared by its threads; the Ray engine: a client of one named actor
holding the counters), which the pipeline hands to its rewards (:mod:`f2g_core.limits`).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any


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
