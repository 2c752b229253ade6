"""An eval run from start to finish: validate everything, make the missing videos, score the missing (video,
metric) pairs, write the outputs.

Everything that can be wrong (suite, configs, metrics, baseline) is checked before the first video, so a typo
costs seconds. A job makes its video and scores it; a job whose video is stored but lacks a current score of some
metric (one added to the command, or a new version of one) only scores it, after every video to make: so adding
``--metric X`` to a finished eval samples nothing. Every finished job is committed before the next one is
reported, so a crash costs at most the jobs in flight.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from f2g_core.config import load_config, read_config_file, redact
from f2g_core.errors import ConfigError, F2GError
from f2g_core.evaluation import Suite
from f2g_core.outputs import prepare_output_dir
from f2g_core.trace import PHASES

from f2g_eval import limits
from f2g_eval.engines import Engine
from f2g_eval.grid import expand_grid
from f2g_eval.hosts import hosted_components, parse_host
from f2g_eval.jobs import EvalConfig, Failure, Finished, Job, JobResult, make_jobs
from f2g_eval.metrics import build_metric, not_held_out
from f2g_eval.store import Store, lock_directory
from f2g_eval.suites import MAX_SEED, load_suite
from f2g_eval.summary import markdown, metric_columns, summarise

if TYPE_CHECKING:
    from f2g_core.pipeline import Pipeline


class RunStopped(F2GError):
    """A failure every job would repeat (a config error, rejected credentials, a broken metric) stopped the eval
    early; what finished is kept. Its exit status is that of the failure (2 for a configuration error)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


MAX_SEED_COUNT = 100_000
"""The most seeds one run takes per item: each is a video per item and config, so a range past it is a typo
(``0-99999999``), refused at once rather than built as a list that fills the memory."""


def parse_seeds(text: str) -> list[int]:
    """``0-4`` → 0..4; ``0,3,7``; ``0-2,10``."""
    ranges: list[range] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            first, sep, last = part.partition("-")
            ranges.append(range(int(first), int(last) + 1) if sep else range(int(first), int(first) + 1))
    except ValueError:
        raise ConfigError(
            f"--seeds {text!r}: use a range and/or a list of seeds from 0 to {MAX_SEED}, e.g. 0-4 or 0,3,7"
        ) from None
    distinct = f"--seeds {text!r}: give distinct seeds from 0 to {MAX_SEED} (2^63 - 1), e.g. 0-4"
    if not ranges or any(r.start < 0 or r.stop - 1 > MAX_SEED for r in ranges):
        raise ConfigError(distinct)
    count = sum(max(0, r.stop - r.start) for r in ranges)  # len() of a range past 2^63 overflows
    if count > MAX_SEED_COUNT:
        raise ConfigError(
            f"--seeds {text!r}: {count} seeds per item is more than one run takes ({MAX_SEED_COUNT}); "
            "give a smaller range, e.g. 0-4"
        )
    seeds = [seed for r in ranges for seed in r]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(distinct)
    return seeds


def check_name(name: str, ref: str) -> str:
    """A config's name, which names its folders under ``--out``: non-empty, no path separator, not ``.``/``..``."""
    if not name.strip() or name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise ConfigError(
            f"-c {ref!r}: the config name {name!r} cannot be a folder name under --out (it must be non-empty, "
            "without / or \\, and not . or ..); name it with -c NAME=FILE, e.g. -c guided=FILE"
        )
    return name


def check_limits(spec: EvalSpec) -> None:
    """The run limits are numbers a budget can be: a negative or NaN limit would silently mean no limit (or no
    guidance at all)."""
    if spec.max_concurrency is not None and spec.max_concurrency < 1:
        raise ConfigError(f"--max-concurrency {spec.max_concurrency}: allow at least 1 request in flight")
    if spec.max_calls is not None and spec.max_calls < 0:
        raise ConfigError(f"--max-calls {spec.max_calls}: give a number of calls >= 0")
    cost = spec.max_cost_usd
    if cost is not None and not (math.isfinite(cost) and cost >= 0):
        raise ConfigError(f"--max-cost-usd {cost}: give an amount in USD >= 0, e.g. 5")


def load_configs(refs: Sequence[str]) -> list[EvalConfig]:
    """``-c FILE`` (named by the file's stem), ``-c NAME=FILE`` or ``-c DIR`` (its *.yaml, by name); unique names."""
    configs: list[EvalConfig] = []
    for ref in refs:
        name, sep, path = ref.partition("=")
        if not sep:
            name, path = Path(ref).stem, ref
        if not sep and Path(ref).is_dir():
            files = sorted(Path(ref).glob("*.yaml")) + sorted(Path(ref).glob("*.yml"))
            if not files:
                raise ConfigError(f"-c {ref}: the folder has no .yaml configs")
            configs += [
                EvalConfig(check_name(f.stem, str(f)), load_config(read_config_file(f), where=str(f))) for f in files
            ]
            continue
        configs.append(EvalConfig(check_name(name, ref), load_config(read_config_file(path), where=path)))
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"-c: two configs are named {next(n for n in names if names.count(n) > 1)!r}; name them with -c NAME=FILE"
        )
    if not configs:
        raise ConfigError("-c: give at least one run config (-c A.yaml -c B.yaml)")
    seen: dict[str, str] = {}
    for config in configs:
        if config.hash in seen:
            raise ConfigError(
                f"-c: configs {seen[config.hash]!r} and {config.name!r} make the same videos (they differ at most in "
                "prompt, seed or output settings); drop one"
            )
        seen[config.hash] = config.name
    return configs


@dataclass
class EvalSpec:
    """What ``f2g eval`` was asked to do."""

    suite: str
    configs: list[str]
    out: Path
    seeds: list[int] = field(default_factory=lambda: [0])
    metrics: list[str] = field(default_factory=list)
    dimensions: list[str] = field(default_factory=list)
    baseline: str | None = None
    engine: Literal["local", "ray"] = "local"
    workers: int = 1
    batch: int = 1
    address: str | None = None
    gpus_per_worker: float = 0.0
    export: list[str] = field(default_factory=list)
    report: bool = True
    max_concurrency: int | None = None
    max_calls: int | None = None
    max_cost_usd: float | None = None
    methods: list[str] = field(default_factory=list)
    """Grid axes (``--methods``, ``--budgets``, ``--steps``): every config at every combination (eval/grid.py)."""
    budgets: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    share: bool = True
    """One loaded copy of each reward and metric for every worker of a process (``--private-models``: False)."""
    hosts: list[str] = field(default_factory=list)
    """``--host NAME[:num_gpus=…]``: rewards and metrics on their own Ray actors (Ray engine only)."""


@dataclass
class EvalOutcome:
    suite: Suite
    configs: list[EvalConfig]
    rows: list[JobResult]
    ran: int
    """Videos made by this invocation (the others were already in the store)."""
    failures: dict[tuple[str, int, str], str]
    files: dict[str, Path]
    usage: dict[str, float] = field(default_factory=dict)
    """The run limits' counters of this invocation: remote-reward ``calls``, ``cost_usd``, ``refused``."""
    stopped: Failure | None = None
    """The failure that stopped the run early (every other job would have repeated it), if one did."""
    rescored: int = 0
    """Videos made before that this invocation scored (with a metric added, or a new version of one)."""

    @property
    def jobs(self) -> int:
        """Jobs of the command: those with a video, and those whose video failed."""
        return len(self.rows) + len(set(self.failures) - {row.key for row in self.rows})


Progress = Callable[[int, int, float], None]
"""``progress(done, total, spent_usd)`` after each finished job (videos to make, then stored videos to score)."""


def require(module: str, extra: str, what: str) -> None:
    """A clear message, before any video is made, when an optional dependency is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{what} needs {module}, which is not installed: pip install 'f2g-eval[{extra}]'")


def make_engine(spec: EvalSpec, configs: list[EvalConfig], run_limits: limits.RunLimits) -> Engine:
    by_hash = {c.hash: c.config for c in configs}
    if spec.engine == "ray":
        from f2g_eval.engines.ray_engine import RayEngine

        engine = RayEngine(
            by_hash, spec.metrics, spec.out, spec.workers, run_limits, spec.address, spec.gpus_per_worker, spec.batch
        )
        engine.hosts = dict(parse_host(ref) for ref in spec.hosts)
        return engine
    from f2g_eval.engines.local import LocalEngine

    return LocalEngine(by_hash, spec.metrics, spec.out, spec.workers, run_limits, spec.batch, spec.share)


def prepare(spec: EvalSpec) -> tuple[Suite, list[EvalConfig], list[Job]]:
    """Validate the suite, configs, metrics and baseline without loading any model."""
    from f2g_core.pipeline import Pipeline

    check_limits(spec)
    if spec.engine == "ray":
        require("ray", "ray", "--engine ray")
    suite = load_suite(spec.suite, spec.dimensions)
    configs = expand_grid(load_configs(spec.configs), spec.methods, spec.budgets, spec.steps)
    if spec.baseline is not None and spec.baseline not in [c.name for c in configs]:
        raise ConfigError(
            f"--baseline {spec.baseline!r}: not one of the configs ({', '.join(c.name for c in configs)})"
        )
    configs = [with_derived_options(config, Pipeline.from_config(config.config)) for config in configs]
    metrics = [build_metric(ref) for ref in spec.metrics]
    if spec.hosts:
        if spec.engine != "ray":
            raise ConfigError(
                f"--host {spec.hosts[0]}: a host actor needs --engine ray (the local engine already shares one copy "
                "of each reward and metric among its workers)"
            )
        hosted_components(
            {c.hash: c.config for c in configs}, spec.metrics, dict(parse_host(ref) for ref in spec.hosts)
        )
    names = [metric.name for metric in metrics]
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise ConfigError(f"--metric: two metrics are named {twice!r} (their columns would clash); give it once")
    for message in not_held_out(metrics, {c.name: c.config for c in configs}):
        warnings.warn(message, stacklevel=2)
    return suite, configs, make_jobs(suite.items, spec.seeds, configs, names)


def with_derived_options(config: EvalConfig, pipeline: Pipeline) -> EvalConfig:
    """``config`` with the options its budget rule derived (:attr:`EvalConfig.derived`), when it has a budget
    (``pipeline``: the config built, which checked the options and loaded nothing)."""
    if config.config.guidance.budget is None:
        return config
    return replace(config, derived=pipeline.sampler.options.model_dump(mode="json"))


def versions(spec: EvalSpec) -> dict[str, int]:
    """Each ``--metric``'s name and version (what its current scores must have been made with)."""
    return {metric.name: metric.version for metric in map(build_metric, spec.metrics)}


def plan(
    jobs: Sequence[Job], run_dirs: Mapping[tuple[str, int, str], str], scored: set[tuple[tuple[str, int, str], str]]
) -> list[Job]:
    """The jobs to run: those whose video is missing (first), then those whose stored video lacks a current score
    of some metric, which only score it with those metrics."""
    make = [job for job in jobs if job.key not in run_dirs]
    score = []
    for job in jobs:
        missing = [name for name in job.metrics if (job.key, name) not in scored]
        if job.key in run_dirs and missing:
            score.append(job.scoring(run_dirs[job.key], missing))
    return make + score


def run_eval(spec: EvalSpec, progress: Progress | None = None) -> EvalOutcome:
    """Run (or resume) an evaluation into ``spec.out`` and write its results, summary and report."""
    suite, configs, jobs = prepare(spec)
    prepare_output_dir(spec.out, setting="--out")  # a read-only or file --out fails here, naming it
    lock = lock_directory(spec.out)
    try:
        with Store(spec.out / "results.sqlite") as store:
            for config in configs:
                store.add_config(config.hash, config.name, json.dumps(redact(config.config.model_dump(mode="json"))))
            known = store.prompts()
            for item in suite.items:
                if item.id in known and known[item.id] != item.prompt:
                    raise ConfigError(
                        f"{suite.source}: item {item.id!r} has prompt {item.prompt!r}, but {spec.out} holds results "
                        f"for it with prompt {known[item.id]!r}; give the new prompt a new id, or use another --out"
                    )
            run_dirs = store.run_dirs()
            todo = plan(jobs, run_dirs, store.scored(versions(spec)))
            failures: dict[tuple[str, int, str], str] = {}
            total = len(jobs) + sum(1 for job in todo if job.run_dir is not None)  # videos, then re-scorings
            finished = total - len(todo)
            made = rescored = 0
            run_limits = limits.RunLimits(spec.max_concurrency, spec.max_calls, spec.max_cost_usd)
            spent = sum(r.cost_usd for r in store.rows([j.key for j in jobs]))

            def on_result(done: Finished) -> None:
                nonlocal finished, spent, made, rescored
                if done.video is None:
                    store.add_scores(done.scores)
                    rescored += 1
                else:
                    store.add(done.video, done.scores)
                    made += 1
                    spent += done.video.cost_usd
                finished += 1
                if progress is not None:
                    progress(finished, total, spent)

            def on_failure(job: Job, message: str) -> None:
                if job.run_dir is not None:  # its video is kept; the scores stay missing, for the next run
                    failures[job.key] = f"scoring its video ({job.run_dir}) failed: {message}"
                    return
                failures[job.key] = message
                store.add_failure(job.key, message)

            if progress is not None:
                progress(finished, total, spent)
            stopped, usage = None, run_limits.stats()
            if todo:
                engine = make_engine(spec, configs, run_limits)
                stopped = engine.run(todo, on_result, on_failure)
                usage = engine.usage()
            rows = store.rows([job.key for job in jobs])
        files = write_outputs(spec, suite, configs, rows)
    finally:
        lock.release()
    return EvalOutcome(suite, configs, rows, made, failures, files, usage, stopped, rescored)


def write_csv(path: Path, rows: Sequence[JobResult]) -> Path:
    columns = metric_columns(rows)
    header = ["item_id", "prompt", "category", "dimension", "seed", "config", "config_hash", *columns]
    header += ["model_calls", "reward_calls", "tokens", "cost_usd", "seconds", "run_dir", "reward_rounds"]
    header += [f"seconds_{phase}" for phase in PHASES]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for r in rows:
            metrics = ["" if r.metrics.get(c) is None else r.metrics[c] for c in columns]
            writer.writerow(
                [
                    r.item_id,
                    r.prompt,
                    r.category or "",
                    r.dimension,
                    r.seed,
                    r.config,
                    r.config_hash,
                    *metrics,
                    r.model_calls,
                    r.reward_calls,
                    r.tokens,
                    f"{r.cost_usd:.6f}",
                    f"{r.seconds:.3f}",
                    r.run_dir,
                    r.reward_rounds,
                    *(f"{r.phase_seconds.get(phase, 0.0):.3f}" for phase in PHASES),
                ]
            )
    return path


def write_outputs(spec: EvalSpec, suite: Suite, configs: list[EvalConfig], rows: list[JobResult]) -> dict[str, Path]:
    """results.csv, summary.md, report.html and the requested exports (rewritten from the store every run); a
    file that cannot be written (disk full) is named, and every result stays in results.sqlite."""
    try:
        return _write_outputs(spec, suite, configs, rows)
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        raise F2GError(
            f"writing the eval's outputs{where} under {spec.out} failed ({error.strerror or error}); every finished "
            "job is kept in results.sqlite: free space (or fix the folder) and re-run the same command to write them"
        ) from None


def _write_outputs(spec: EvalSpec, suite: Suite, configs: list[EvalConfig], rows: list[JobResult]) -> dict[str, Path]:
    order = [c.name for c in configs]
    baseline = spec.baseline or order[0]
    summaries = summarise(rows, order, baseline)
    files = {"csv": write_csv(spec.out / "results.csv", rows)}
    files["summary"] = spec.out / "summary.md"
    files["summary"].write_text(markdown(summaries, baseline, f"f2g eval: {suite.name}"), encoding="utf-8")
    if spec.report and rows:
        from f2g_eval.report import write_report

        files["report"] = write_report(spec.out / "report.html", suite, order, rows, summaries, baseline)
    if "vbench" in spec.export:
        from f2g_eval.export import export_vbench

        files["vbench"] = export_vbench(spec.out, rows)
    return files
