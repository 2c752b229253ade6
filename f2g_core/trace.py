"""What happened during one run, step by step: scores, choices, costs and time. Written as ``trace.json``."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any


def _finite_or_none(values: Any) -> list[float | None]:
    """JSON has no NaN: failed scores are written as null."""
    return [float(v) if math.isfinite(float(v)) else None for v in values]


@dataclass
class StepRecord:
    """One sampling step. Unguided steps only carry counts; guided steps carry every candidate's scores."""

    step: int
    timestep: float
    guided: bool = False
    model_calls: int = 0
    frames_decoded: int = 0
    reward_calls: int = 0
    num_candidates: int = 1
    scores: dict[str, list[float | None]] = field(default_factory=dict)
    combined: list[float | None] = field(default_factory=list)
    chosen: int | None = None
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

    def set_scores(self, scores: Mapping[str, Any], combined: Any) -> None:
        self.scores = {name: _finite_or_none(values) for name, values in scores.items()}
        self.combined = _finite_or_none(combined)


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
    final: StepRecord | None = None
    """Best-of-N: the scores of the N finished samples and the chosen one."""
    decode_frames: int = 0
    """Frames decoded for the output video."""
    seconds_total: float = 0.0

    def totals(self) -> dict[str, Any]:
        """Summed counts, times per phase and reward usage over the run."""
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
            "guided_steps": sum(1 for r in records if r.guided and r.fallback is None),
            "planned_guided_steps": sum(1 for r in records if r.guided),
            "fallbacks": sum(1 for r in records if r.fallback),
            "seconds": {"total": self.seconds_total, **seconds},
            "usage": usage,
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["totals"] = self.totals()
        data["steps"] = [
            {k: v for k, v in asdict(record).items() if v not in ({}, [], None) or k in ("step", "chosen")}
            for record in self.steps
        ]
        return data
