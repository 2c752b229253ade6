"""Usage counters, the price table and the budget of one LVLM reward.

Costs come from the token counts the API reports and a price table per model (US dollars per million tokens)
that configuration can override or extend — prices change more often than this library is released. The budget
is checked *before* calls are made, for the whole step at once, so guidance stops at a step boundary with
:class:`~f2g_core.errors.BudgetExceeded` and the sampler finishes the video unguided.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass

from pydantic import BaseModel, ConfigDict, Field

from f2g_core.errors import BudgetExceeded

log = logging.getLogger("f2g.lvlm")


class Price(BaseModel):
    """US dollars per million input and output tokens."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)


DEFAULT_PRICES: dict[str, Price] = {
    # OpenAI (standard tier, per 1M tokens)
    "gpt-4o-mini": Price(input=0.15, output=0.60),
    "gpt-4o": Price(input=2.50, output=10.00),
    "gpt-4o-2024-05-13": Price(input=5.00, output=15.00),
    "gpt-4.1-nano": Price(input=0.10, output=0.40),
    "gpt-4.1-mini": Price(input=0.40, output=1.60),
    "gpt-4.1": Price(input=2.00, output=8.00),
    # Anthropic
    "claude-3-haiku": Price(input=0.25, output=1.25),
    "claude-3-5-haiku": Price(input=0.80, output=4.00),
    "claude-haiku-4": Price(input=1.00, output=5.00),
    "claude-3-5-sonnet": Price(input=3.00, output=15.00),
    "claude-3-7-sonnet": Price(input=3.00, output=15.00),
    "claude-sonnet-4": Price(input=3.00, output=15.00),
    "claude-opus-4": Price(input=15.00, output=75.00),
}
"""Known list prices, matched by the longest model-name prefix (``gpt-4o-2024-08-06`` → ``gpt-4o``). Models not
listed (local servers) cost 0 — with a warning, once, unless the configuration gives their price."""


class PriceTable:
    """Looks up a model's price by the longest matching prefix; ``overrides`` win over the defaults."""

    def __init__(self, overrides: Mapping[str, Price] | None = None, defaults: Mapping[str, Price] = DEFAULT_PRICES):
        self.prices = {**defaults, **(overrides or {})}
        self._warned: set[str] = set()

    def price(self, model: str) -> Price | None:
        matches = [name for name in self.prices if model == name or model.startswith(name + "-")]
        if model in self.prices:
            return self.prices[model]
        return self.prices[max(matches, key=len)] if matches else None

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        price = self.price(model)
        if price is None:
            if model not in self._warned:
                self._warned.add(model)
                log.warning("no price known for LVLM model %r: its cost is counted as 0 (set the prices option)", model)
            return 0.0
        return (input_tokens * price.input + output_tokens * price.output) / 1e6


@dataclass
class Usage:
    """Cumulative counters of one reward since ``load()`` (what ``Reward.usage()`` returns)."""

    calls: int = 0
    """API answers received (billed calls), parse retries included."""
    requests: int = 0
    """HTTP requests sent, failed ones and retries included."""
    cache_hits: int = 0
    retries: int = 0
    """Requests repeated after a transient error (429, 5xx, timeout, connection error, malformed body)."""
    parse_failures: int = 0
    """Answers that had no parsable ``Answer: …`` (each one triggers a retry until ``parse_retries`` is spent)."""
    errors: int = 0
    """Calls given up after their retries, or refused for good (e.g. HTTP 400)."""
    nan_scores: int = 0
    """Candidates scored NaN (could not be scored)."""
    logprob_scores: int = 0
    parsed_scores: int = 0
    logprob_fallbacks: int = 0
    """Answers whose answer-token log-probabilities were unusable (NaN, +inf): scored from the parsed answer
    instead (and counted in ``parsed_scores``)."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    budget_stops: int = 0

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


CURRENT_RUN: ContextVar[int] = ContextVar("f2g_lvlm_run", default=0)
"""The video run the running scoring task belongs to (``RewardBatch.run``), set by the reward for each batch.

A context variable, not a field: the batches of several videos are scored at the same time on one event loop,
and each task (with the tasks and threads it starts) sees its own batch's run."""


class Ledger:
    """A reward's :class:`Usage` in total and per video run (the run of the current context)."""

    def __init__(self) -> None:
        self.total = Usage()
        self.runs: dict[int, Usage] = {}

    def run(self, run: int | None = None) -> Usage:
        """The counters of ``run`` (default: the current context's)."""
        return self.runs.setdefault(CURRENT_RUN.get() if run is None else run, Usage())

    def add(self, **counts: float) -> None:
        """Add ``counts`` (``calls=1, cost_usd=0.002``) to the total and to the current run."""
        for usage in (self.total, self.run()):
            for key, value in counts.items():
                setattr(usage, key, getattr(usage, key) + value)


class Budget:
    """Stops calls before a video run spends more than ``max_cost_usd`` or makes more than ``max_calls`` calls,
    and (optionally) before the reward's whole life spends more than ``max_total_cost_usd`` / ``max_total_calls``.

    Spending is kept per video run (the :data:`CURRENT_RUN` of the calling task), so a reused pipeline never
    carries one video's spending into the next and videos scored at the same time never share a budget. The cost
    of calls not yet made is estimated from the mean cost of the calls so far; before the first call it is unknown
    (:meth:`cost_unknown`), so the reward sends one call alone first and the rest of its step only if it fits. A
    cost budget is therefore overshot by at most one call (per video being scored at that moment), and only when
    that one call alone costs more than the budget; a call budget is exact.
    """

    def __init__(
        self,
        ledger: Ledger,
        max_cost_usd: float | None = None,
        max_calls: int | None = None,
        max_total_cost_usd: float | None = None,
        max_total_calls: int | None = None,
    ) -> None:
        self.ledger = ledger
        self.max_cost_usd, self.max_calls = max_cost_usd, max_calls
        self.max_total_cost_usd, self.max_total_calls = max_total_cost_usd, max_total_calls
        self._exhausted: set[int] = set()
        self._reserved: dict[int, tuple[int, int]] = {}
        """Per video run whose step is in flight: (calls let through by :meth:`check`, the run's calls then).
        Batches of several videos check at the same time, and each must see the others' calls not made yet, or
        together they would overshoot a total budget; a call once made is counted by the ledger alone."""

    @property
    def exhausted(self) -> bool:
        """Whether the current run's budget is spent."""
        return CURRENT_RUN.get() in self._exhausted

    def release(self) -> None:
        """The current run's step is done: the calls it reserved and did not make are free again."""
        self._reserved.pop(CURRENT_RUN.get(), None)

    def _outstanding(self) -> int:
        """Calls reserved by steps in flight and not made yet."""
        return sum(
            max(0, reserved - (self.ledger.run(run).calls - before))
            for run, (reserved, before) in self._reserved.items()
        )

    def spent(self) -> tuple[int, float]:
        """(calls, cost) of the current run so far."""
        mine = self.ledger.run()
        return mine.calls, mine.cost_usd

    def cost_unknown(self) -> bool:
        """A cost budget is set but no call has been made yet, so what a call costs is not known."""
        capped = self.max_cost_usd is not None or self.max_total_cost_usd is not None
        return capped and self.ledger.total.calls == 0

    def estimated_cost(self, calls: int) -> float:
        total = self.ledger.total
        return calls * (total.cost_usd / total.calls if total.calls else 0.0)

    def allows(self, calls: int) -> bool:
        if self.exhausted:
            return False
        total = self.ledger.total
        run_calls, run_cost = self.spent()
        extra = self.estimated_cost(calls)
        for limit, made in ((self.max_calls, run_calls), (self.max_total_calls, total.calls + self._outstanding())):
            if limit is not None and made + calls > limit:
                return False
        for cap, cost in ((self.max_cost_usd, run_cost), (self.max_total_cost_usd, total.cost_usd)):
            if cap is not None and (cost >= cap or cost + extra > cap + 1e-12):
                return False
        return True

    def reserve(self, calls: int) -> bool:
        """Let ``calls`` more calls of the current run's step through if they fit (a parse retry asks for one);
        they count as reserved until made or until :meth:`release`."""
        if not self.allows(calls):
            return False
        run = CURRENT_RUN.get()
        reserved, before = self._reserved.get(run, (0, self.ledger.run().calls))
        self._reserved[run] = (reserved + calls, before)
        return True

    def check(self, calls: int, who: str) -> None:
        """Reserve ``calls`` more calls for the current run's step (:meth:`release` when it is done), or raise
        :class:`BudgetExceeded` if they do not fit; once exceeded, always raise (this run)."""
        if self.reserve(calls):
            return
        self._exhausted.add(CURRENT_RUN.get())
        self.ledger.add(budget_stops=1)
        total = self.ledger.total
        run_calls, run_cost = self.spent()
        parts = []
        if self.max_calls is not None:
            parts.append(f"{run_calls} of max_calls={self.max_calls} calls made this run")
        if self.max_cost_usd is not None:
            parts.append(f"${run_cost:.4f} of max_cost_usd={self.max_cost_usd:g} spent this run")
        if self.max_total_calls is not None:
            parts.append(f"{total.calls} of max_total_calls={self.max_total_calls} calls made in all")
        if self.max_total_cost_usd is not None:
            parts.append(f"${total.cost_usd:.4f} of max_total_cost_usd={self.max_total_cost_usd:g} spent in all")
        raise BudgetExceeded(
            f"{who}: budget reached ({'; '.join(parts)}; the next step needs {calls} more calls): "
            "guidance stops and the video finishes unguided"
        )


def nanmean(values: list[float]) -> float:
    """Mean of the finite values, NaN when there are none (a sample that failed does not drag a score to 0)."""
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan
