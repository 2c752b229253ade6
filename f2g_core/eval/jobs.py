"""Jobs (suite item × seed × config) and running them on a pipeline: the code every engine shares.

:func:`run_jobs` is the one place that turns jobs into videos: ``batch`` jobs of one config at a time through
``Pipeline.generate_pairs``, so their chains share every denoiser call where the backbone supports batched
conditioning. A batch that fails is re-run one job at a time, so one bad job fails alone.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from f2g_core.config import RunConfig
from f2g_core.errors import F2GError
from f2g_core.eval.metrics import Metric, build_metric
from f2g_core.eval.suites import SuiteItem
from f2g_core.pipeline import Pipeline, RunResult


def config_hash(config: RunConfig) -> str:
    """What makes two configs produce the same videos: everything but prompt, seed and output settings."""
    data = config.model_dump(mode="json", exclude={"prompt", "seed", "output"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EvalConfig:
    """A named run config of an evaluation (the name is the file's stem unless given as ``NAME=FILE``)."""

    name: str
    config: RunConfig

    @property
    def hash(self) -> str:
        return config_hash(self.config)


@dataclass(frozen=True)
class Job:
    item: SuiteItem
    seed_index: int
    """Position of the seed in ``--seeds`` (VBench's ``{prompt}-{index}.mp4``)."""
    seed: int
    config_name: str
    config_hash: str

    @property
    def key(self) -> tuple[str, int, str]:
        """The results-store key."""
        return (self.item.id, self.seed, self.config_hash)


def make_jobs(items: Sequence[SuiteItem], seeds: Sequence[int], configs: Sequence[EvalConfig]) -> list[Job]:
    """Every job, config-major (so a worker keeps one pipeline loaded for long), then item, then seed."""
    return [
        Job(item, index, item.seed + seed, config.name, config.hash)
        for config in configs
        for item in items
        for index, seed in enumerate(seeds)
    ]


@dataclass
class JobResult:
    """One finished job: a row of ``results.csv`` and of the store."""

    item_id: str
    prompt: str
    category: str | None
    dimension: str
    seed_index: int
    seed: int
    config: str
    config_hash: str
    metrics: dict[str, float | None]
    model_calls: int
    reward_calls: int
    tokens: int
    cost_usd: float
    seconds: float
    run_dir: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    """Per guided step: its index, the combined reward of every candidate, the chosen one."""
    events: list[str] = field(default_factory=list)
    worker: str = ""

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.item_id, self.seed, self.config_hash)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Outcome = RunResult | Exception
"""A job's video, or why it could not be made."""


def batches(jobs: Sequence[Job], size: int) -> list[list[Job]]:
    """Consecutive runs of at most ``size`` jobs of one config (jobs are config-major, so batches stay full)."""
    out: list[list[Job]] = []
    for job in jobs:
        if out and len(out[-1]) < max(1, size) and out[-1][0].config_hash == job.config_hash:
            out[-1].append(job)
        else:
            out.append([job])
    return out


def run_jobs(pipeline: Pipeline, jobs: Sequence[Job]) -> Iterator[tuple[Job, Outcome]]:
    """The videos of ``jobs`` (one config) sampled together, or, if that fails, one at a time."""
    try:
        results: Sequence[Outcome] = pipeline.generate_pairs([(job.item.prompt, job.seed) for job in jobs])
    except Exception as error:
        if len(jobs) == 1:
            results = [error]
        else:
            for job in jobs:
                yield from run_jobs(pipeline, [job])
            return
    yield from zip(jobs, results, strict=True)


def _usage_totals(usage: Mapping[str, Mapping[str, float]]) -> tuple[int, float]:
    tokens = sum(int(u.get("input_tokens", 0) + u.get("output_tokens", 0)) for u in usage.values())
    return tokens, float(sum(u.get("cost_usd", 0.0) for u in usage.values()))


def _finite(value: float | bool | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def finish(
    job: Job, result: RunResult, pipeline: Pipeline, metrics: Sequence[Metric], out: Path, worker: str
) -> JobResult:
    """Score a finished video with every metric, write its run directory under ``out/runs``, and make its row."""
    values: dict[str, float | None] = {}
    for metric in metrics:
        measured = metric.measure_video(job.item, result.video, pipeline.backbone.fps)
        for column, dim in zip(metric.columns(), metric.dimensions or (metric.name,), strict=True):
            values[column] = _finite(measured.get(dim))
    directory = pipeline.save(result, out / "runs" / job.config_name / job.item.id)  # unique per worker and job
    totals = result.trace.totals()
    tokens, cost = _usage_totals(totals["usage"])
    steps = [
        {"step": s.step, "combined": s.combined, "chosen": s.chosen}
        for s in (*result.trace.steps, *([result.trace.final] if result.trace.final else []))
        if s.combined
    ]
    return JobResult(
        item_id=job.item.id,
        prompt=job.item.prompt,
        category=job.item.category,
        dimension=job.item.dimension,
        seed_index=job.seed_index,
        seed=job.seed,
        config=job.config_name,
        config_hash=job.config_hash,
        metrics=values,
        model_calls=int(totals["model_calls"]),
        reward_calls=int(totals["reward_calls"]),
        tokens=tokens,
        cost_usd=cost,
        seconds=float(totals["seconds"]["total"]),
        run_dir=str(directory.relative_to(out)) if directory.is_relative_to(out) else str(directory),
        steps=steps,
        events=list(result.trace.events),
        worker=worker,
    )


def describe(error: BaseException) -> str:
    """A job's failure as one line: an f2g error's own message, anything else with its type."""
    return str(error) if isinstance(error, F2GError) else f"{type(error).__name__}: {error}"


class Worker:
    """What one engine slot holds: a loaded pipeline for the config it last ran, and its own metric instances.

    A thread of the local engine and an actor of the Ray engine each own one, so nothing here is shared.
    """

    def __init__(self, configs: Mapping[str, RunConfig], metric_refs: Sequence[str], out: Path, name: str) -> None:
        self.configs = dict(configs)
        self.metrics = [build_metric(ref) for ref in metric_refs]
        self.out = out
        self.name = name
        self._pipeline: Pipeline | None = None
        self._hash: str | None = None

    def pipeline(self, config_hash: str) -> Pipeline:
        """The pipeline of ``config_hash``; switching configs closes the previous one (one model in memory)."""
        if self._hash != config_hash or self._pipeline is None:
            if self._pipeline is not None:
                self._pipeline.close()
            self._pipeline = Pipeline.from_config(self.configs[config_hash])
            self._pipeline.load()
            for metric in self.metrics:
                metric.load()
            self._hash = config_hash
        return self._pipeline

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, JobResult | str]]:
        """Run one batch of jobs (one config), yielding each row, or what failed, as soon as it is known."""
        if not jobs:
            return
        pipeline = self.pipeline(jobs[0].config_hash)
        for job, outcome in run_jobs(pipeline, jobs):
            try:
                if isinstance(outcome, Exception):
                    raise outcome
                yield job, finish(job, outcome, pipeline, self.metrics, self.out, self.name)
            except Exception as error:  # one failed job must not stop the others
                yield job, describe(error)

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
        for metric in self.metrics:
            metric.close()
