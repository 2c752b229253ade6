"""The ``f2g eval`` command; :func:`register` adds it to the ``f2g`` typer app (through f2g_eval.plugin)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from f2g_core.errors import F2GError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def eval_command(
    suite: Annotated[str, typer.Argument(help="Suite file (.txt, .jsonl, .csv, VBench_full_info.json) or name.")],
    config: Annotated[
        list[str], typer.Option("--config", "-c", help="Run config FILE, NAME=FILE or DIR (its *.yaml); repeat.")
    ],
    out: Annotated[Path, typer.Option(help="Eval directory (results store, CSV, summary, report, videos).")],
    seeds: Annotated[str, typer.Option(help="Seeds per item: 0-4, 0,3,7 …")] = "0",
    metric: Annotated[
        list[str] | None, typer.Option("--metric", "-m", help="Metric or reward id (NAME[:key=value,…]); repeat.")
    ] = None,
    dimension: Annotated[
        str | None, typer.Option(help="Only items of these dimensions (comma-separated, e.g. multiple_objects).")
    ] = None,
    baseline: Annotated[str | None, typer.Option(help="Config compared against (default: the first).")] = None,
    engine: Annotated[str, typer.Option(help="local (threads) or ray.")] = "local",
    workers: Annotated[
        int, typer.Option(help="Videos in flight: threads (local) or actors (ray; 0 = one per CPU).")
    ] = 1,
    batch: Annotated[
        int,
        typer.Option(
            min=1,
            help="Videos of one config sampled together, sharing every denoiser call (where the backbone supports "
            "batched conditioning; results are the same as one at a time).",
        ),
    ] = 1,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start a local Ray).")] = None,
    gpus_per_worker: Annotated[
        float, typer.Option(help="GPUs each Ray actor reserves (1 = one pipeline per GPU; 0.5 = two per GPU).")
    ] = 0.0,
    export: Annotated[list[str] | None, typer.Option(help="Also write videos for another tool: vbench.")] = None,
    report: Annotated[bool, typer.Option(help="Write report.html.")] = True,
    max_concurrency: Annotated[
        int | None, typer.Option(min=1, help="Remote-reward requests in flight across the whole run (>= 1).")
    ] = None,
    max_calls: Annotated[
        int | None, typer.Option(min=0, help="Remote-reward calls allowed for the whole run (>= 0).")
    ] = None,
    max_cost_usd: Annotated[
        float | None, typer.Option(help="Remote-reward spend allowed for the whole run (USD, >= 0).")
    ] = None,
    methods: Annotated[
        str | None, typer.Option(help="Grid: run every config with each of these methods (comma-separated).")
    ] = None,
    budgets: Annotated[
        str | None,
        typer.Option(help="Grid: model calls per video, e.g. 75,150,300; each method's options follow its rule."),
    ] = None,
    steps: Annotated[str | None, typer.Option(help="Grid: sampling steps T, e.g. 25,50.")] = None,
    share_models: Annotated[
        bool,
        typer.Option(
            "--share-models/--private-models",
            help="One loaded copy of each reward and metric for all workers of a process, requests batched "
            "(default), or one copy per worker.",
        ),
    ] = True,
    host: Annotated[
        list[str] | None,
        typer.Option(
            help="Ray engine: run this reward id or metric on its own Ray actor(s), shared by every worker: "
            "NAME[:num_gpus=1,num_cpus=1,replicas=1,max_batch=64]; repeat."
        ),
    ] = None,
) -> None:
    """Run every (suite item, seed, config) job, score the videos, and write results.csv, summary.md, report.html.

    Resumable: videos and scores are kept in OUT/results.sqlite; re-running the same command makes only the missing
    videos and scores only the missing (video, metric) pairs (a metric added, or a new version of one).
    """
    from f2g_core.errors import ConfigError

    from f2g_eval.runner import EvalSpec, RunStopped, parse_seeds, run_eval
    from f2g_eval.summary import failed_values

    if engine not in ("local", "ray"):
        raise ConfigError(f"--engine {engine!r}: use local or ray")
    unknown = sorted(set(export or []) - {"vbench"})
    if unknown:
        raise ConfigError(f"--export {', '.join(unknown)}: the only export is vbench")
    spec = EvalSpec(
        suite=suite,
        configs=config,
        out=out,
        seeds=parse_seeds(seeds),
        metrics=metric or [],
        dimensions=[d.strip() for d in (dimension or "").split(",") if d.strip()],
        baseline=baseline,
        engine=engine,  # type: ignore[arg-type]
        workers=workers,
        batch=batch,
        address=address,
        gpus_per_worker=gpus_per_worker,
        export=export or [],
        report=report,
        max_concurrency=max_concurrency,
        max_calls=max_calls,
        max_cost_usd=max_cost_usd,
        methods=_names(methods),
        budgets=_numbers("--budgets", budgets),
        steps=_numbers("--steps", steps),
        share=share_models,
        hosts=host or [],
    )
    console, errors = Console(), Console(stderr=True)
    with Progress(
        TextColumn("eval"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("spent ${task.fields[spent]:.4f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
    ) as bar:
        task = bar.add_task("eval", total=None, spent=0.0)

        def progress(done: int, total: int, spent: float) -> None:
            bar.update(task, completed=done, total=total, spent=spent)

        outcome = run_eval(spec, progress)
    console.print(
        f"{len(outcome.rows)} of {outcome.jobs} jobs done ({outcome.ran} videos "
        f"generated now, {outcome.rescored} stored videos scored); wrote "
        f"{', '.join(str(p) for p in outcome.files.values())}"
    )
    failed = failed_values(outcome.rows)
    if failed:
        reason = next(e for r in outcome.rows for e in r.events if e.startswith("metric "))
        console.print(f"note: {failed} metric value(s) failed, nan in results.csv (first: {reason})")
    calls, cost = int(outcome.usage.get("calls", 0)), float(outcome.usage.get("cost_usd", 0.0))
    if calls or max_calls is not None or max_cost_usd is not None:
        limit = f" (--max-cost-usd {max_cost_usd})" if max_cost_usd is not None else ""
        console.print(f"remote rewards this run: {calls} calls reserved, ${cost:.5f} spent{limit}")
    if outcome.stopped is not None:
        raise RunStopped(
            f"the eval stopped: {outcome.stopped.message}; the other jobs were not run, finished jobs are kept: fix "
            "the cause and re-run the same command",
            outcome.stopped.exit_code,
        )
    if outcome.failures:
        first = next(iter(outcome.failures.items()))
        raise F2GError(
            f"{len(outcome.failures)} job(s) failed (first: item {first[0][0]!r} seed {first[0][1]}: {first[1]}); "
            "finished jobs are kept, fix the cause and re-run the same command"
        )


def _names(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _numbers(flag: str, text: str | None) -> list[int]:
    from f2g_core.errors import ConfigError

    try:
        numbers = [int(part) for part in _names(text)]
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: give whole numbers separated by commas, e.g. 75,150,300") from None
    if any(n < 1 for n in numbers):
        raise ConfigError(f"{flag} {text!r}: every value must be at least 1")
    return numbers


def register(app: typer.Typer) -> None:
    """Add ``eval`` to the ``f2g`` app."""
    app.command(name="eval")(eval_command)
