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

from f2g_core.errors import BudgetExceeded, ComponentError, CredentialsError
from f2g_core.interfaces import AsyncReward, Combiner, Reward, RewardBatch


@dataclass
class Scored:
    """Every reward's scores of one batch, their combination and the usage the batch cost."""

    scores: dict[str, np.ndarray]
    combined: np.ndarray
    usage: dict[str, dict[str, float]]
    problems: list[str]
    refused: list[str] = field(default_factory=list)
    """Rewards whose budget refused this batch: they scored nothing (NaN) and made no calls."""


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

    def score(self, batches: Sequence[RewardBatch]) -> list[Scored]:
        """Score every batch (one per video, ``batch.run`` its run) with every reward at once and combine each.

        Rewards run concurrently; so do one reward's batches of different videos when it keeps its counters per
        run (:meth:`AsyncReward.run_usage`), otherwise it gets them one video at a time. Failures: see above.
        """
        outcomes = self.runner.run(self._gather(batches))
        return [
            self._combine(batch, {name: outcome[index] for name, outcome in zip(self.rewards, outcomes, strict=True)})
            for index, batch in enumerate(batches)
        ]

    def _combine(self, batch: RewardBatch, outcomes: Mapping[str, tuple[Any, dict[str, float]]]) -> Scored:
        """One batch's scores (NaN where a reward failed), their combination and usage; stops or raises."""
        run = batch.run
        scores: dict[str, np.ndarray] = {}
        problems: list[str] = []
        refused: list[str] = []
        fatal: ComponentError | None = None
        for name, (result, _) in outcomes.items():
            values = np.full(len(batch), math.nan)
            if isinstance(result, ComponentError):  # rejected credentials stay recognisable (eval stops on them)
                kind = CredentialsError if isinstance(result, CredentialsError) else ComponentError
                fatal = fatal or kind(f"reward {name!r}: {result}")
            elif isinstance(result, BudgetExceeded):
                self.stopped.setdefault(run, f"reward {name!r}: {result}")
                refused.append(name)
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
        combined = np.asarray(self.combiner.combine(scores, self.weights), dtype=np.float64).reshape(-1)
        if run in self.stopped:
            combined = np.full(len(batch), math.nan)  # a batch cut short by a budget decides nothing
        usage = {name: spent for name, (_, spent) in outcomes.items()}
        return Scored(scores=scores, combined=combined, usage=usage, problems=problems, refused=refused)

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

    async def _gather(self, batches: Sequence[RewardBatch]) -> list[list[tuple[Any, dict[str, float]]]]:
        """Per reward, per batch: the result (or the exception) and the usage that batch cost."""

        async def call(reward: Reward, batch: RewardBatch) -> Any:
            work: Any = (
                reward.ascore(batch) if isinstance(reward, AsyncReward) else asyncio.to_thread(reward.score, batch)
            )
            try:
                return await asyncio.wait_for(work, self.timeout_s)
            except (Exception, SystemExit) as error:  # reported per batch and reward by _combine (a reward's
                return error  # sys.exit() is its failure, not the process's)

        async def per_run(reward: AsyncReward, batch: RewardBatch) -> tuple[Any, dict[str, float]]:
            before = dict(reward.run_usage(batch.run) or {})
            result = await call(reward, batch)
            return result, _difference(reward.run_usage(batch.run) or {}, before)

        async def one_by_one(reward: Reward) -> list[tuple[Any, dict[str, float]]]:
            out = []
            for batch in batches:
                before = dict(reward.usage())
                result = await call(reward, batch)
                out.append((result, _difference(reward.usage(), before)))
            return out

        async def all_of(reward: Reward) -> list[tuple[Any, dict[str, float]]]:
            if isinstance(reward, AsyncReward) and len(batches) > 1 and reward.run_usage(batches[0].run) is not None:
                return list(await asyncio.gather(*(per_run(reward, batch) for batch in batches)))
            return await one_by_one(reward)

        return list(await asyncio.gather(*(all_of(reward) for reward in self.rewards.values())))


def _difference(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, float]:
    return {key: float(value) - before.get(key, 0.0) for key, value in after.items()}


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
