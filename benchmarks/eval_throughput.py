"""Throughput of ``f2g eval`` on this machine: videos per minute on the shapes suite, and how well several videos
in flight hide a remote reward's latency.

1. The shapes backbone guided by the in-process judge (n = 5, 6 of 50 steps): the local engine with 1 and 2
   worker threads, one worker sampling ``--batch`` videos together, and the Ray engine with 2 actors.
2. The same with the ``openai`` reward against the local fake LVLM server (``f2g_lvlm.fake_server``) answering
   after 0 ms and after 300 ms: one video at a time, ``--hide-workers`` videos in flight, and one worker sampling
   ``--batch`` videos together (their candidates scored in one round trip per step). The issue's target:
   throughput at 300 ms ≥ 0.8 × throughput at 0 ms with videos in flight.

    python benchmarks/eval_throughput.py                    # all figures (a few minutes on 2 cores)
    python benchmarks/eval_throughput.py --videos 12 --skip-ray

Figures include loading each worker's pipeline, as a real run does (not Ray's own start-up); one table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LVLM_OPTIONS = {"model": "fake", "cache": False, "max_concurrency": 64}
"""Room for a batch's candidates (8 videos × 5) in flight at once; a worker of one video uses 5 of it."""
GUIDANCE = {"method": "free2guide", "options": {"num_candidates": 5, "start": 0, "num_guided_steps": 6}}


def config(rewards: list[dict[str, Any]]) -> Any:
    from f2g_core.config import load_config

    return load_config(
        {
            "backbone": {"type": "shapes"},
            "rewards": rewards,
            "sampler": {"num_steps": 50, "eta": 1.0},
            "guidance": GUIDANCE,
            "output": {"formats": ["gif"]},
        }
    )


def measure(engine: str, workers: int, run_config: Any, videos: int, batch: int = 1) -> float:
    """Videos per minute for ``videos`` jobs of the shapes suite on a fresh engine (``batch`` videos per call)."""
    from f2g_eval.engines.local import LocalEngine
    from f2g_eval.engines.ray_engine import RayEngine
    from f2g_eval.jobs import EvalConfig, make_jobs
    from f2g_eval.suites import load_suite

    items = load_suite(f"shapes-benchmark:pairs={videos}").items
    named = EvalConfig("bench", run_config)
    jobs = make_jobs(items, [0], [named], ["shapes"])
    done: list[Any] = []
    with tempfile.TemporaryDirectory() as folder:
        configs = {named.hash: run_config}
        runner: Any = (
            RayEngine(configs, ["shapes"], Path(folder), workers, batch=batch)
            if engine == "ray"
            else LocalEngine(configs, ["shapes"], Path(folder), workers, batch=batch)
        )
        if engine == "ray":  # Ray's start-up (seconds, once per session) is not part of a suite's throughput
            import ray

            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
        started = time.perf_counter()
        runner.run(jobs, done.append, lambda job, message: print(f"failed: {message}", file=sys.stderr))
        seconds = time.perf_counter() - started
        if engine == "ray":
            ray.shutdown()
    if len(done) != len(jobs):
        raise SystemExit(f"{len(jobs) - len(done)} of {len(jobs)} jobs failed")
    return 60.0 * len(done) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=24, help="videos per measurement")
    parser.add_argument("--hide-workers", type=int, default=8, help="videos in flight for the latency figure")
    parser.add_argument("--batch", type=int, default=8, help="videos per batch for the batched figures")
    parser.add_argument("--latency", type=float, default=0.3, help="fake LVLM server latency (s)")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args(argv)

    from f2g_lvlm.fake_server import Answer, FakeLVLMServer

    lines = [f"{os.cpu_count()} CPUs; shapes suite, {args.videos} videos per figure, n=5, 6 of 50 steps guided", ""]
    lines += ["| setting | engine | workers × videos per batch | videos / min |", "|---|---|---|---|"]

    def row(setting: str, engine: str, workers: int, run_config: Any, batch: int = 1) -> float:
        rate = measure(engine, workers, run_config, args.videos, batch)
        lines.append(f"| {setting} | {engine} | {workers} × {batch} | {rate:.1f} |")
        print(lines[-1], flush=True)
        return rate

    judge = config([{"type": "shapes-judge"}])
    row("judge reward (in process)", "local", 1, judge)
    row("judge reward (in process)", "local", 2, judge)
    row("judge reward (in process)", "local", 1, judge, batch=args.batch)
    if not args.skip_ray:
        row("judge reward (in process)", "ray", 2, judge)
    rates: dict[tuple[float, int | str], float] = {}
    for latency in (0.0, args.latency):
        with FakeLVLMServer(Answer("Answer: 5"), latency=latency) as server:
            lvlm = config([{"type": "openai", "options": {**LVLM_OPTIONS, "base_url": server.openai_base_url}}])
            label = f"openai reward, fake server {latency * 1000:.0f} ms"
            for workers in (1, args.hide_workers):
                rates[(latency, workers)] = row(label, "local", workers, lvlm)
            rates[(latency, "batch")] = row(label, "local", 1, lvlm, batch=args.batch)
            if not args.skip_ray:
                rates[(latency, "ray")] = row(label, "ray", args.hide_workers, lvlm)
    hidden = rates[(args.latency, args.hide_workers)] / rates[(0.0, args.hide_workers)]
    serial = rates[(args.latency, 1)] / rates[(0.0, args.hide_workers)]
    lines += [
        "",
        f"latency hiding: {args.hide_workers} videos in flight at {args.latency * 1000:.0f} ms reach "
        f"{hidden:.2f}× the zero-latency throughput (one video at a time: {serial:.2f}×)",
    ]
    batched = rates[(args.latency, "batch")] / rates[(0.0, "batch")]
    lines.append(f"one worker sampling {args.batch} videos together (one round trip per step for all): {batched:.2f}×")
    if not args.skip_ray:
        ray_hidden = rates[(args.latency, "ray")] / rates[(0.0, "ray")]
        lines.append(f"Ray, {args.hide_workers} actors (processes, no shared GIL): {ray_hidden:.2f}×")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
