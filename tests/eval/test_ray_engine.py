"""``--engine ray`` on a local Ray: the same metric values as the local engine, every job exactly once even when
a worker process is killed mid-suite, and one concurrency limit shared by all actors."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="ray is not installed (pip install 'f2g-core[ray]')")

import ray

from f2g_core.eval.engines.ray_engine import RayEngine
from f2g_core.eval.jobs import JobResult
from f2g_core.eval.limits import RunLimits
from f2g_core.eval.runner import EvalSpec, prepare, run_eval


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (the engine reuses a running Ray and leaves it running)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=100 * 1024 * 1024)
    yield
    ray.shutdown()


def spec(files: dict[str, Path], out: Path, engine: str, batch: int = 1) -> EvalSpec:
    configs = [str(files["base"]), str(files["guided"])]
    return EvalSpec(
        suite=str(files["suite"]), configs=configs, out=out, seeds=[0, 1], metrics=["shapes"], engine=engine,  # type: ignore[arg-type]
        workers=2, batch=batch, report=False,
    )  # fmt: skip


def test_ray_results_equal_the_local_engine(local_ray, eval_files, tmp_path) -> None:
    local = run_eval(spec(eval_files, tmp_path / "local", "local"))
    remote = run_eval(spec(eval_files, tmp_path / "ray", "ray", batch=2))  # two videos per actor call
    assert len(local.rows) == len(remote.rows) == 8 and not remote.failures
    by_key = {r.key: r for r in local.rows}
    for row in remote.rows:
        twin = by_key[row.key]
        assert row.worker.startswith("ray-") and twin.worker.startswith("local-")
        assert row.metrics.keys() == twin.metrics.keys()
        for column, value in row.metrics.items():
            assert value == pytest.approx(twin.metrics[column], abs=1e-5), (row.key, column)
        assert (row.model_calls, row.reward_calls) == (twin.model_calls, twin.reward_calls)


def test_killed_worker_mid_suite_every_job_exactly_once(local_ray, eval_files, tmp_path) -> None:
    run_spec = spec(eval_files, tmp_path, "ray")
    _, configs, jobs = prepare(run_spec)
    engine = RayEngine(  # two videos per actor call: the killed actor's whole batch is redone, once
        {c.hash: c.config for c in configs}, ["shapes"], tmp_path, workers=2, run_limits=RunLimits(), batch=2
    )
    rows: list[JobResult] = []
    killed: list[int] = []

    def on_result(row: JobResult) -> None:
        rows.append(row)
        if not killed:  # kill the *other* actor, which is in the middle of its job
            reporter = int(row.worker.rsplit(":", 1)[1])
            victim = next(pid for pid in engine.pids.values() if pid != reporter)
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    engine.run(jobs, on_result, lambda job, message: pytest.fail(message))
    assert killed and engine.restarts >= 1
    assert sorted(r.key for r in rows) == sorted(j.key for j in jobs)  # all of them, none twice
    # (rows of the killed actor may still arrive: a batch it finished just before the kill is kept, not redone)


def test_actors_share_one_concurrency_limit(local_ray, tmp_path) -> None:
    pytest.importorskip("f2g_plugin_openai")
    from f2g_lvlm.fake_server import Answer, FakeLVLMServer

    from f2g_core.eval.jobs import make_jobs
    from f2g_core.eval.suites import SuiteItem

    from .test_limits import lvlm_config

    with FakeLVLMServer(Answer("Answer: 5"), latency=0.05) as server:
        config = lvlm_config(server)
        jobs = make_jobs([SuiteItem(f"i{k}", "a red circle moving left") for k in range(4)], [0], [config])
        engine = RayEngine({config.hash: config.config}, [], tmp_path, workers=2, run_limits=RunLimits(1, 20))
        rows: list[JobResult] = []
        engine.run(jobs, rows.append, lambda job, message: pytest.fail(message))
        assert len(rows) == 4 and server.max_in_flight == 1
        # one budget for both actors: 4 videos wanted 24 calls, in steps of 3; 6 steps fit under 20
        assert server.request_count == 18 and engine.stats["calls"] == 18 and engine.stats["refused"] >= 1
