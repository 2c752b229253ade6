"""Run-wide limits on remote reward calls: a service a pipeline hands to its rewards, scoped to one run.

A reward's own ``max_concurrency`` / ``max_calls`` / ``max_cost_usd`` are per reward instance; an evaluation with
eight workers builds eight of each reward, which would allow eight times what a provider account permits. So a
caller that runs many pipelines (``f2g eval``) builds each with one shared :class:`CallLimits`
(``Pipeline.from_config(config, limits=...)``), and the pipeline gives every reward its :class:`SharedLimits`
view (:attr:`f2g_core.interfaces.Reward.shared_limits`). A remote reward asks that view before every request:

* :meth:`SharedLimits.slot` — hold one of the run's request slots for the duration of a request;
* :meth:`SharedLimits.reserve` — reserve the calls of a step, or :class:`~f2g_core.errors.BudgetExceeded` (the
  video then finishes unguided, as with a reward's own budget);
* :meth:`SharedLimits.record_cost` — what a finished request cost;
* :meth:`SharedLimits.cost_unknown` — a cost limit is set but nothing was paid yet: send one call alone first.

A pipeline built without limits (plain ``f2g generate``) hands its rewards a view of none: every method is free.
Nothing here is process-global, so two runs in one process never share limits by accident.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from f2g_core.errors import BudgetExceeded


class CallLimits(Protocol):
    """What a run's shared limits implement (``f2g_eval.limits.RunLimits``; on Ray, a client of one actor)."""

    async def acquire(self) -> None: ...
    def release(self) -> None: ...
    async def reserve(self, calls: int) -> bool: ...
    def spend(self, cost_usd: float) -> None: ...
    def cost_unknown(self) -> bool: ...


class SharedLimits:
    """A reward's view of the run's :class:`CallLimits` (or of none, when the run has no shared limits)."""

    def __init__(self, limits: CallLimits | None = None) -> None:
        self.limits = limits

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the run's remote-request slots for the duration of a request."""
        if self.limits is None:
            yield
            return
        await self.limits.acquire()
        try:
            yield
        finally:
            self.limits.release()

    async def reserve(self, calls: int, who: str) -> None:
        """Reserve ``calls`` requests of the run's budget, or raise BudgetExceeded naming ``who``."""
        if self.limits is not None and not await self.limits.reserve(calls):
            raise BudgetExceeded(
                f"{who}: the run's shared budget (--max-calls / --max-cost-usd) is spent: "
                "guidance stops and the video finishes unguided"
            )

    def record_cost(self, cost_usd: float) -> None:
        """Record one answered call and its cost (0 for unpriced models: the call still counts towards the mean)."""
        if self.limits is not None:
            self.limits.spend(cost_usd)

    def cost_unknown(self) -> bool:
        """Whether the run has a cost limit but no call was paid yet, so the cost of a call cannot be estimated."""
        return self.limits is not None and self.limits.cost_unknown()


NO_LIMITS = SharedLimits()
"""The view of no shared limits: what a reward holds until a pipeline with limits hands it theirs."""
