"""Jobs (suite item × seed × config) and running them on a pipeline: the code every engine shares.

:func:`run_jobs` is the one place that turns jobs into videos: ``batch`` jobs of one config at a time through
``Pipeline.generate_pairs``, so their chains share every denoiser call where the backbone supports batched
conditioning. A batch that fails is re-run one job at a time, so one bad job fails alone. A job whose video is
already stored (``Job.run_dir``) only scores it with the metrics it names, from the frames kept beside it
(``f2g_eval.scoring``): nothing is sampled. A job whose run fails after sampling began keeps its trace up to the
failing step (:func:`keep_failed`): the calls, tokens and dollars it spent are on record, not lost with it.

:meth:`Worker.run` never raises: whatever breaks (a pipeline that does not load, a metric that raises
``SystemExit``, a plugin bug) becomes a :class:`Failure` of the jobs it touched, so an engine always hears of every
job exactly once. A finished video is saved (with its frames) before any metric looks at it, so no metric can
lose it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from f2g_core.config import RunConfig
from f2g_core.errors import ConfigError, CredentialsError, F2GError
from f2g_core.evaluation import Metric, SuiteItem
from f2g_core.limits import CallLimits
from f2g_core.pipeline import Pipeline, RunResult, failed_runs

from f2g_eval.metrics import build_metric
from f2g_eval.scoring import Score, describe, eight_bit, load_frames, measure, save_frames
from f2g_eval.suites import MAX_SEED

if TYPE_CHECKING:
    from f2g_eval.hosts import HostPool

_PLAIN_NAME = re.compile(r"\w[\w.-]{0,99}")


def safe_component(text: str) -> str:
    """``text`` as one folder name that stays where it is put (an item id from a downloaded suite may be
    ``/abs/path`` or ``../../x``): unchanged when it is already plain (word characters, ``.``, ``-``; not starting
    with a dot; at most 100 characters), else cleaned and suffixed with a hash of ``text`` so ids stay apart."""
    if _PLAIN_NAME.fullmatch(text):
        return text
    clean = re.sub(r"[^\w.-]+", "_", text).strip("._")[:80]
    return f"{clean or 'item'}-{hashlib.sha1(text.encode('utf-8', 'replace')).hexdigest()[:8]}"


def config_hash(config: RunConfig, derived: dict[str, Any] | None = None) -> str:
    """What makes two configs produce the same videos: everything but prompt, seed and output settings, and for a
    config with a budget the method's options its budget rule ``derived`` (hashed in place of the options given)."""
    data = config.model_dump(mode="json", exclude={"prompt", "seed", "output"})
    if derived is not None:
        data["guidance"]["options"] = derived
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EvalConfig:
    """A named run config of an evaluation (the name is the file's stem unless given as ``NAME=FILE``)."""

    name: str
    config: RunConfig
    derived: dict[str, Any] | None = None
    """For a config with a budget, every option of its method as the budget rule derived them (set by
    ``runner.prepare``). The hash covers them because the rule is code, not config: without them a run resumed
    after a rule was refitted would count the old rule's videos as made. The config itself is run as given."""

    @property
    def hash(self) -> str:
        return config_hash(self.config, self.derived)


@dataclass(frozen=True)
class Job:
    item: SuiteItem
    seed_index: int
    """Position of the seed in ``--seeds`` (VBench's ``{prompt}-{index}.mp4``)."""
    seed: int
    config_name: str
    config_hash: str
    metrics: tuple[str, ...] = ()
    """Names of the metrics to score its video with (those of the run it has no current score of)."""
    run_dir: str | None = None
    """Where its video was saved by an earlier run (relative to the eval directory): then it is only scored."""

    @property
    def key(self) -> tuple[str, int, str]:
        """The results-store key."""
        return (self.item.id, self.seed, self.config_hash)

    def scoring(self, run_dir: str, metrics: Sequence[str]) -> Job:
        """This job as one that scores the video already saved in ``run_dir`` with ``metrics``."""
        return replace(self, run_dir=run_dir, metrics=tuple(metrics))


def make_jobs(
    items: Sequence[SuiteItem], seeds: Sequence[int], configs: Sequence[EvalConfig], metrics: Sequence[str] = ()
) -> list[Job]:
    """Every job, config-major (so a worker keeps one pipeline loaded for long), then item, then seed, each to be
    scored with every metric (by name)."""
    for item in items:
        if item.seed + max(seeds, default=0) > MAX_SEED:
            raise ConfigError(
                f"item {item.id!r}: its seed {item.seed} plus --seeds up to {max(seeds)} is over the largest seed, "
                f"{MAX_SEED} (2^63 - 1); use smaller seeds"
            )
    return [
        Job(item, index, item.seed + seed, config.name, config.hash, metrics=tuple(metrics))
        for config in configs
        for item in items
        for index, seed in enumerate(seeds)
    ]


@dataclass
class JobResult:
    """One finished job: a row of ``results.csv``, read from the store as its video with its current scores."""

    item_id: str
    prompt: str
    category: str | None
    dimension: str
    seed_index: int
    seed: int
    config: str
    config_hash: str
    metrics: dict[str, float | None]
    """Column -> value (None: does not apply; NaN: failed, the events say why): the video's current scores."""
    model_calls: int
    reward_calls: int
    tokens: int
    cost_usd: float
    seconds: float
    run_dir: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    """Per scored step: its index, the combined reward of every candidate, and ``chosen`` / ``selected``: the kept
    candidates' indices into ``combined`` (the trace's one meaning; ``chosen`` only when one is kept, ``selected``
    absent in rows written before it was exported)."""
    events: list[str] = field(default_factory=list)
    """The trace's notes (budget stops, fallbacks), then why each failed metric value failed."""
    worker: str = ""
    reward_rounds: int = 0
    """Sequential round trips to the rewards (what an API reward's latency multiplies)."""
    phase_seconds: dict[str, float] = field(default_factory=dict)
    """Seconds per phase of the trace (denoise, transition, lookahead, decode, reward)."""

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.item_id, self.seed, self.config_hash)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Finished:
    """What a job gave: the video it made (None when it scored one made before; its ``metrics`` empty, its
    ``events`` the trace's) and the scores it measured."""

    key: tuple[str, int, str]
    video: JobResult | None
    scores: list[Score]


Outcome = RunResult | BaseException
"""A job's video, or why it could not be made."""


@dataclass(frozen=True)
class Failure:
    """Why a job has no row.

    ``stop``: every other job would fail the same way — a config that does not load for a configuration error
    (a missing API key), credentials a service rejected, a metric that does not load — so the engine starts no
    more jobs and the eval ends with ``exit_code`` after keeping what finished.
    """

    message: str
    stop: bool = False
    exit_code: int = 1


def fail(error: BaseException, context: str = "", stop: bool = False) -> Failure:
    """``error`` as a job's failure; rejected credentials stop the run (a job's own configuration error, such as
    a prompt the backbone refuses, does not: the other jobs may be fine)."""
    stops = stop or isinstance(error, CredentialsError)
    code = error.exit_code if isinstance(error, F2GError) else 1
    return Failure(context + describe(error), stops, code)


def batches(jobs: Sequence[Job], size: int) -> list[list[Job]]:
    """Consecutive runs of at most ``size`` jobs of one config that all make their video or all only score it
    (jobs are config-major, so batches stay full)."""
    out: list[list[Job]] = []
    for job in jobs:
        last = out[-1][0] if out else None
        same = last is not None and (last.config_hash, last.run_dir is None) == (job.config_hash, job.run_dir is None)
        if out and same and len(out[-1]) < max(1, size):
            out[-1].append(job)
        else:
            out.append([job])
    return out


def run_jobs(pipeline: Pipeline, jobs: Sequence[Job]) -> Iterator[tuple[Job, Outcome]]:
    """The videos of ``jobs`` (one config) sampled together, or, if that fails, one at a time."""
    try:
        results: Sequence[Outcome] = pipeline.generate_pairs([(job.item.prompt, job.seed) for job in jobs])
    except GeneratorExit:
        raise
    except BaseException as error:  # SystemExit from a plugin fails its job like any error
        if len(jobs) == 1 or isinstance(error, CredentialsError):  # a rejected key is not re-sent once per job
            results = [error] * len(jobs)
        else:
            for job in jobs:
                yield from run_jobs(pipeline, [job])
            return
    yield from zip(jobs, results, strict=True)


def _usage_totals(usage: Mapping[str, Mapping[str, float]]) -> tuple[int, float]:
    tokens = sum(int(u.get("input_tokens", 0) + u.get("output_tokens", 0)) for u in usage.values())
    return tokens, float(sum(u.get("cost_usd", 0.0) for u in usage.values()))


def run_parent(job: Job, out: Path) -> Path:
    """Where ``job``'s run directory goes (finished or failed): ``out/runs/CONFIG/ITEM``."""
    return out / "runs" / job.config_name / safe_component(job.item.id)


def shown(directory: Path, out: Path) -> Path:
    """``directory`` relative to the eval directory where it is inside it (how rows and messages name it)."""
    return directory.relative_to(out) if directory.is_relative_to(out) else directory


def finish(
    job: Job, result: RunResult, pipeline: Pipeline, metrics: Sequence[Metric], out: Path, worker: str
) -> Finished:
    """Write a finished video's run directory under ``out/runs`` with its frames (first: no metric can lose it),
    score it with ``metrics``, and make its row."""
    directory = pipeline.save(result, run_parent(job, out))
    frames = eight_bit(result.video)
    save_frames(directory, frames)
    totals = result.trace.totals()
    tokens, cost = _usage_totals(totals["usage"])
    steps = [
        {"step": s.step, "combined": s.combined, "chosen": s.chosen, "selected": s.selected}
        for s in (*result.trace.steps, *([result.trace.final] if result.trace.final else []))
        if s.combined
    ]
    video = JobResult(
        item_id=job.item.id,
        prompt=job.item.prompt,
        category=job.item.category,
        dimension=job.item.dimension,
        seed_index=job.seed_index,
        seed=job.seed,
        config=job.config_name,
        config_hash=job.config_hash,
        metrics={},
        model_calls=int(totals["model_calls"]),
        reward_calls=int(totals["reward_calls"]),
        tokens=tokens,
        cost_usd=cost,
        seconds=float(totals["seconds"]["total"]),
        run_dir=str(shown(directory, out)),
        steps=steps,
        events=list(result.trace.events),
        worker=worker,
        reward_rounds=int(totals["reward_rounds"]),
        phase_seconds={k: float(v) for k, v in totals["seconds"].items() if k != "total"},
    )
    return Finished(job.key, video, measure(metrics, job.key, job.item, frames, pipeline.backbone.fps))


def keep_failed(job: Job, error: BaseException, pipeline: Pipeline, out: Path) -> str:
    """Save the trace so far of ``job``'s video that ``error`` ended, as ``f2g generate`` does (a ``…-failed`` run
    directory beside where its video would have gone), and say where, for its failure message; an error raised
    before sampling began ended no video, and has nothing to keep (``""``)."""
    for failed in failed_runs(error):
        if (failed.prompt, failed.seed) == (job.item.prompt, job.seed):
            try:
                directory = pipeline.save_failed(failed, run_parent(job, out))
            except F2GError as save_error:  # the job's own failure stays the message; this one is added to it
                return f" (its trace so far was not saved: {save_error})"
            return f" (its trace up to the failing step is in {shown(directory, out)})"
    return ""


class Worker:
    """What one engine slot holds: a loaded pipeline for the config it last ran, and its metrics (one instance of
    each for all its jobs).

    A thread of the local engine and an actor of the Ray engine each own one. Its rewards and metrics come from
    ``hosts`` where one is given (one loaded copy shared by every worker of the process, or a client of a Ray host
    actor: ``f2g_eval.hosts``), else they are its own. Nothing it does raises: a metric that does not build
    or load, or a config whose pipeline does not load, fails the jobs that need it (remembered, so a broken config
    is not loaded again for each of its batches).
    """

    def __init__(
        self,
        configs: Mapping[str, RunConfig],
        metric_refs: Sequence[str],
        out: Path,
        name: str,
        limits: CallLimits | None = None,
        hosts: HostPool | None = None,
    ) -> None:
        self.configs = dict(configs)
        self.limits = limits
        """The run's shared limits on remote calls, handed to every pipeline this worker builds."""
        self.hosts = hosts
        self.out = out
        self.name = name
        self.metrics: list[Metric] = []
        self._pipeline: Pipeline | None = None
        self._hash: str | None = None
        self._broken: dict[str, Failure] = {}
        """Config hash -> why its pipeline did not load."""
        self._metrics_failed: Failure | None = None
        self._fps: dict[str, float | None] = {}
        """Config hash -> its backbone's frame rate (for scoring videos made before)."""
        for ref in metric_refs:
            try:
                metric = hosts.metric(ref) if hosts is not None else build_metric(ref)
                self.metrics.append(metric)
                metric.load()
            except BaseException as error:  # the metric is broken for every job: stop the run
                self._metrics_failed = fail(error, f"metric {ref.partition(':')[0]!r} did not load: ", stop=True)
                break

    def pipeline(self, config_hash: str, config_name: str) -> Pipeline | Failure:
        """The pipeline of ``config_hash``, or why it does not load; switching configs closes the previous one
        (one model in memory)."""
        if config_hash in self._broken:
            return self._broken[config_hash]
        if self._hash != config_hash or self._pipeline is None:
            if self._pipeline is not None:
                self._pipeline.close()
            self._pipeline, self._hash = None, None
            try:
                pipeline = Pipeline.from_config(self.configs[config_hash], limits=self.limits)
                if self.hosts is not None:
                    self.hosts.share_rewards(pipeline)
                pipeline.load()
            except BaseException as error:
                # a configuration error here (a missing API key) is the config's, so every job of the run stops
                stop = isinstance(error, ConfigError)
                self._broken[config_hash] = fail(error, f"config {config_name!r} did not load: ", stop)
                return self._broken[config_hash]
            self._pipeline, self._hash = pipeline, config_hash
        return self._pipeline

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Finished | Failure]]:
        """Run one batch of jobs (one config), yielding each row, or why it failed, as soon as it is known:
        every job exactly once, whatever breaks."""
        reported: set[tuple[str, int, str]] = set()
        try:
            for job, outcome in self._run(jobs):
                reported.add(job.key)
                yield job, outcome
        except GeneratorExit:
            raise
        except BaseException as error:  # what the per-job guards did not catch fails the batch's other jobs
            failure = fail(error)
            for job in jobs:
                if job.key not in reported:
                    yield job, failure

    def _run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Finished | Failure]]:
        if not jobs:
            return
        if self._metrics_failed is not None:
            for job in jobs:
                yield job, self._metrics_failed
            return
        if jobs[0].run_dir is not None:
            yield from self._score(jobs)
            return
        pipeline = self.pipeline(jobs[0].config_hash, jobs[0].config_name)
        if isinstance(pipeline, Failure):
            for job in jobs:
                yield job, pipeline
            return
        for job, outcome in run_jobs(pipeline, jobs):
            if isinstance(outcome, BaseException):
                failure = fail(outcome)
                yield job, replace(failure, message=failure.message + keep_failed(job, outcome, pipeline, self.out))
                continue
            try:
                row: Finished | Failure = finish(job, outcome, pipeline, self._metrics(job), self.out, self.name)
            except (Exception, SystemExit) as error:  # one failed job must not stop the others
                row = fail(error)
            yield job, row

    def _metrics(self, job: Job) -> list[Metric]:
        return [metric for metric in self.metrics if metric.name in job.metrics]

    def _score(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Finished | Failure]]:
        """Score videos saved by an earlier run from their frames; nothing is sampled (no pipeline is loaded)."""
        for job in jobs:
            assert job.run_dir is not None
            try:
                if job.config_hash not in self._fps:  # built, not loaded: the backbone's frame rate
                    self._fps[job.config_hash] = Pipeline.from_config(self.configs[job.config_hash]).backbone.fps
                frames = load_frames(self.out / job.run_dir)
            except (Exception, SystemExit) as error:  # its scores fail, with the reason; the video stays
                scores = [
                    Score(job.key, m.name, m.version, column, math.nan, f"metric {m.name!r} failed: {describe(error)}")
                    for m in self._metrics(job)
                    for column in m.columns()
                ]
                yield job, Finished(job.key, None, scores)
                continue
            scores = measure(self._metrics(job), job.key, job.item, frames, self._fps[job.config_hash])
            yield job, Finished(job.key, None, scores)

    def close(self) -> None:
        """Release the pipeline and the metrics (best effort: closing never fails a run)."""
        for component in (self._pipeline, *self.metrics):
            try:
                if component is not None:
                    component.close()
            except Exception:  # a close that fails leaves nothing to keep
                pass
