"""Scoring one batch of candidates with every reward at once, and what happens when a reward misbehaves.

* A reward that raises, times out, or returns something malformed (None, the wrong number of scores, non-numbers,
  a coroutine from a synchronous ``score``) scores NaN for that batch: the video never dies of one bad reward.
  The first such problem of each reward in a run is a warning that names the reward and the fix; every
  occurrence is a trace event.
* :class:`~f2g_core.errors.ComponentError` (e.g. an LVLM endpoint answering 401/403/404) stops the run with the
  reward's own fix-it message: retrying every step cannot help.
* :class:`~f2g_core.errors.BudgetExceeded` stops guidance for the rest of the run: :attr:`Scorer.stopped` says why,
  and the sampling methods finish the video unguided.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from f2g_core.errors import BudgetExceeded, ComponentError
from f2g_core.interfaces import AsyncReward, Combiner, Reward, RewardBatch


@dataclass
class Scored:
    """Every reward's scores of one batch, their combination and the usage the batch cost."""

    scores: dict[str, np.ndarray]
    combined: np.ndarray
    usage: dict[str, dict[str, float]]
    problems: list[str]


class _Malformed(Exception):
    """A reward returned something that is not one float per candidate."""


@dataclass
class Scorer:
    """The rewards of a run, their weights and combiner, and the event loop async rewards run on."""

    rewards: Mapping[str, Reward]
    weights: Mapping[str, float]
    combiner: Combiner
    runner: asyncio.Runner
    timeout_s: float | None = None
    """Seconds one reward may take for one batch; a slower call scores NaN (a sync reward's thread finishes idle)."""
    stopped: dict[int, str] = field(default_factory=dict)
    """Per video run: why its guidance stopped (a reward's budget ran out). Runs not in it are still guided."""
    warned: set[str] = field(default_factory=set)

    def score(self, batch: RewardBatch, run: int = 0) -> Scored:
        """Score ``batch`` (of video run ``run``) with every reward concurrently and combine; failures: see above."""
        for reward in self.rewards.values():
            reward.enter_run(run)
        before = {name: dict(reward.usage()) for name, reward in self.rewards.items()}
        results = self.runner.run(self._gather(batch))
        scores: dict[str, np.ndarray] = {}
        problems: list[str] = []
        fatal: ComponentError | None = None
        for name, result in zip(self.rewards, results, strict=True):
            values = np.full(len(batch), math.nan)
            if isinstance(result, ComponentError):
                fatal = fatal or ComponentError(f"reward {name!r}: {result}")
            elif isinstance(result, BudgetExceeded):
                self.stopped.setdefault(run, f"reward {name!r}: {result}")
            elif isinstance(result, BaseException):
                problems.append(self._problem(name, batch, result))
            else:
                try:
                    values = _as_scores(result, len(batch))
                except _Malformed as error:
                    problems.append(self._problem(name, batch, error))
            scores[name] = values
        if fatal is not None:
            raise fatal
        usage = {
            name: {k: float(v) - before[name].get(k, 0.0) for k, v in reward.usage().items()}
            for name, reward in self.rewards.items()
        }
        combined = np.asarray(self.combiner.combine(scores, self.weights), dtype=np.float64).reshape(-1)
        if run in self.stopped:
            combined = np.full(len(batch), math.nan)  # a batch cut short by a budget decides nothing
        return Scored(scores=scores, combined=combined, usage=usage, problems=problems)

    def _problem(self, name: str, batch: RewardBatch, error: BaseException) -> str:
        if isinstance(error, TimeoutError):
            message = (
                f"reward {name!r} took longer than guidance.reward_timeout_s={self.timeout_s}; its scores are NaN "
                "(raise the timeout, or make the reward faster)"
            )
        elif isinstance(error, _Malformed):
            message = f"reward {name!r} returned {error}; its scores are NaN (fix the reward's score method)"
        else:
            message = f"reward {name!r} failed: {type(error).__name__}: {error}; its scores are NaN"
        message = f"step {batch.step.index}: {message}"
        kind = f"{name}:{type(error).__name__}"
        if kind not in self.warned:
            self.warned.add(kind)
            warnings.warn(message, stacklevel=4)
        return message

    async def _gather(self, batch: RewardBatch) -> list[Any]:
        async def one(reward: Reward) -> Any:
            call: Any = (
                reward.ascore(batch) if isinstance(reward, AsyncReward) else asyncio.to_thread(reward.score, batch)
            )
            return await asyncio.wait_for(call, self.timeout_s)

        return await asyncio.gather(*(one(r) for r in self.rewards.values()), return_exceptions=True)


def _as_scores(result: Any, count: int) -> np.ndarray:
    """``result`` as ``count`` float64 scores, or :class:`_Malformed` saying what it was instead."""
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()
        raise _Malformed("a coroutine from a synchronous score(); subclass AsyncReward and implement score_candidate")
    if result is None:
        raise _Malformed(f"None instead of {count} scores")
    if hasattr(result, "tolist"):  # NumPy arrays, torch tensors
        result = result.tolist()
    if isinstance(result, (str, bytes)) or not isinstance(result, Sequence):
        raise _Malformed(f"a {type(result).__name__} instead of a sequence of {count} floats")
    items = list(result)
    if len(items) != count:
        raise _Malformed(f"{len(items)} scores for {count} candidates")
    bad = [item for item in items if not isinstance(item, numbers.Real) or isinstance(item, bool)]
    if bad:
        raise _Malformed(f"non-numeric scores such as {bad[0]!r}")
    return np.asarray(items, dtype=np.float64)
