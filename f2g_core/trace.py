"""What happened during one run, step by step: scores, choices, costs and time. Written as ``trace.json``."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from f2g_core.errors import F2GError

PHASES = ("denoise", "transition", "lookahead", "decode", "reward")
"""The phases the sampling toolbox times into ``StepRecord.seconds`` (look-ahead time includes its denoising)."""


def _finite_or_none(values: Any) -> list[float | None]:
    """JSON has no NaN: failed scores are written as null."""
    return [float(v) if math.isfinite(float(v)) else None for v in values]


@dataclass
class StepRecord:
    """One sampling step of one video. Unguided steps carry counts and ancestry; guided ones every candidate's scores.

    ``phase`` is ``step`` for sampling steps, ``initial`` for a scored initial population (Free²Guide's
    ``initial_candidates``) and ``final`` for a method's final choice among finished chains (``step`` is then -1).
    """

    step: int
    timestep: float
    phase: str = "step"
    guided: bool = False
    """Guidance was attempted: the method asked the rewards to score candidates at this step (planned)."""
    decided: bool = False
    """At least one candidate got a valid combined score, so a score decided the selection or resampling."""
    model_calls: int = 0
    frames_decoded: int = 0
    reward_calls: int = 0
    reward_rounds: int = 0
    """Sequential round trips to the rewards (one per scoring of this video's candidates)."""
    num_candidates: int = 0
    """Candidates scored at this step."""
    scores: dict[str, list[float | None]] = field(default_factory=dict)
    combined: list[float | None] = field(default_factory=list)
    chosen: int | None = None
    """``selected[0]`` when the video keeps one chain after the step (Free²Guide, every final choice), else None."""
    selected: list[int] = field(default_factory=list)
    """For every chain after the step, its index among the candidates this step selected from, in the order they
    were scored: an index into :attr:`combined` (empty when the step reused earlier scores, as SMC's final choice
    after a scored last step does). Derived by the loop from what the method picked (never written by
    a method); empty when the step selected nothing (docs/samplers.md#steps-parents-and-chosen)."""
    parents: list[int] = field(default_factory=list)
    """For every chain after the step, the chain (row) of the previous step it descends from."""
    chains: list[int] = field(default_factory=list)
    """Lineage id of every chain after the step (a resampled copy keeps its ancestor's id)."""
    ess: float | None = None
    """Effective sample size of the particle weights (SMC)."""
    resampled: bool | None = None
    fallback: str | None = None
    usage: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the wall time of the block to ``seconds[phase]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start

    def add_scores(
        self, scores: Mapping[str, Any], combined: Any, usage: Mapping[str, Mapping[str, float]] | None = None
    ) -> None:
        """Append one scored group of candidates (per-reward scores, combined scores, the usage it cost)."""
        for name, values in scores.items():
            self.scores.setdefault(name, []).extend(_finite_or_none(values))
        self.combined.extend(_finite_or_none(combined))
        self.num_candidates += len(_finite_or_none(combined))
        for name, counters in (usage or {}).items():
            bucket = self.usage.setdefault(name, {})
            for key, value in counters.items():
                bucket[key] = bucket.get(key, 0.0) + float(value)


@dataclass
class RunTrace:
    """The whole run: its steps, notable events (fallbacks, budget stops, reward failures) and totals."""

    prompt: str
    seed: int
    method: str
    num_steps: int
    key_frames: list[int]
    steps: list[StepRecord] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    rewards: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each reward's :meth:`~f2g_core.interfaces.Reward.trace_info` (model, template version …)."""
    components: dict[str, Any] = field(default_factory=dict)
    """Which plugin and distribution (and version) provided the backbone, each reward and the combiner."""
    options: dict[str, Any] = field(default_factory=dict)
    """The sampler method's options as run."""
    final: StepRecord | None = None
    """The method's final choice among finished chains (best-of-N, SMC, beam): their scores and the chosen one."""
    planned: int | None = None
    """Scorings the method planned per video (:meth:`~f2g_core.population.Sampler.planned_guided_steps`); None:
    unknown, then ``planned_guided_steps`` counts the scorings attempted."""
    decode_frames: int = 0
    """Frames decoded for the output video."""
    seconds_total: float = 0.0
    failure: dict[str, Any] | None = None
    """Set when the run failed: the step it failed at (``step``: k, or −1 for ``phase`` ``initial``, ``final`` or
    ``decode``), ``where`` in words and the ``error``. The records before it are complete; the failing step's
    record holds what that step had spent. Absent from ``trace.json`` for a run that finished."""

    def totals(self) -> dict[str, Any]:
        """Summed counts, times per phase and reward usage over the run.

        ``guided_steps`` counts the records (steps, a scored initial population, the final choice) where a valid
        score decided a selection; ``planned_guided_steps`` those the method planned to guide (:attr:`planned`;
        at least those it attempted). They differ when candidates failed to score or a budget stopped guidance
        (the steps after the stop count as planned, not as guided).
        """
        records = [*self.steps, *([self.final] if self.final else [])]
        seconds: dict[str, float] = {}
        usage: dict[str, dict[str, float]] = {}
        for record in records:
            for phase, value in record.seconds.items():
                seconds[phase] = seconds.get(phase, 0.0) + value
            for reward, counters in record.usage.items():
                bucket = usage.setdefault(reward, {})
                for key, value in counters.items():
                    bucket[key] = bucket.get(key, 0.0) + value
        return {
            "model_calls": sum(r.model_calls for r in records),
            "frames_decoded": sum(r.frames_decoded for r in records) + self.decode_frames,
            "reward_calls": sum(r.reward_calls for r in records),
            "reward_rounds": sum(r.reward_rounds for r in records),
            "cost_usd": sum(counters.get("cost_usd", 0.0) for counters in usage.values()),
            "guided_steps": sum(1 for r in records if r.decided),
            "planned_guided_steps": max(self.planned or 0, sum(1 for r in records if r.guided)),
            "fallbacks": sum(1 for r in records if r.fallback),
            "seconds": {"total": self.seconds_total, **seconds},
            "usage": usage,
        }

    def fail(self, step: int, phase: str, where: str, error: BaseException) -> None:
        """Mark the run failed at ``step`` of ``phase`` (:attr:`failure`), ``where`` in words, because of ``error``
        (its one-line message; an unexpected exception's type too)."""
        message = str(error) if isinstance(error, F2GError) else f"{type(error).__name__}: {error}"
        self.failure = {"step": step, "phase": phase, "where": where, "error": message}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.failure is None:
            del data["failure"]
        data["totals"] = self.totals()
        data["steps"] = [
            {k: v for k, v in asdict(record).items() if v not in ({}, [], None) or k in ("step", "chosen", "parents")}
            for record in self.steps
        ]
        return data
