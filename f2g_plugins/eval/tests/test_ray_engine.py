"""``--engine ray`` on a local Ray: the same metric values as the local engine, every job exactly once even when
a worker process is killed mid-suite, a job that kills its actor every time fails alone (it is not requeued for
ever), and one concurrency limit shared by all actors."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="ray is not installed (pip install 'f2g-eval[ray]')")

import ray
from f2g_core.testing import install_fake_distribution

from f2g_eval.engines.ray_engine import RayEngine
from f2g_eval.jobs import Finished
from f2g_eval.limits import RunLimits
from f2g_eval.runner import EvalSpec, prepare, run_eval

pytestmark = pytest.mark.ray  # scripts/test.sh: one serial run (they kill processes; `ray stop` ends every Ray)

KILLER = """\
import os

from f2g_core.evaluation import Metric
from f2g_core.gaussian_mixture import register_backbones  # noqa: F401
from f2g_core.hookspecs import hookimpl


class KillsItsProcess(Metric):
    \"\"\"Ends its process (as an out-of-memory kill or a crash in native code would) on prompts saying "doomed".\"\"\"

    name = "kills-its-process"

    def measure(self, item, video):
        if "doomed" in item.prompt:
            os._exit(1)
        return {"kills-its-process": 1.0}


@hookimpl
def register_metrics(register):
    register(KillsItsProcess)
"""


@pytest.fixture(scope="module")
def actor_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installed plugin (a fake distribution) the actors load: the analytic backbone and a metric that ends its
    process on some prompts."""
    site = tmp_path_factory.mktemp("actor-site")
    (site / "f2g_ray_killer.py").write_text(KILLER)
    install_fake_distribution(site, "f2g-ray-killer", "0.1", "ray-killer = f2g_ray_killer")
    return site


@pytest.fixture(scope="module")
def local_ray(actor_site: Path):
    """One local Ray for the module (the engine reuses a running Ray and leaves it running); its workers see
    ``actor_site``."""
    path = os.pathsep.join(filter(None, [str(actor_site), os.environ.get("PYTHONPATH")]))
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=100 * 1024 * 1024,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )  # fmt: skip
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
    rows: list[Finished] = []
    killed: list[int] = []

    def on_result(row: Finished) -> None:
        rows.append(row)
        assert row.video is not None
        if not killed:  # kill the *other* actor, which is in the middle of its job
            reporter = int(row.video.worker.rsplit(":", 1)[1])
            victim = next(pid for pid in engine.pids.values() if pid != reporter)
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    engine.run(jobs, on_result, lambda job, message: pytest.fail(message))
    assert killed and engine.restarts >= 1
    assert sorted(r.key for r in rows) == sorted(j.key for j in jobs)  # all of them, none twice
    # (rows of the killed actor may still arrive: a batch it finished just before the kill is kept, not redone)


def test_a_job_that_kills_its_actor_every_time_fails_alone_and_the_run_goes_on(local_ray, tmp_path) -> None:
    from f2g_core.config import load_config
    from f2g_core.evaluation import SuiteItem

    from f2g_eval.jobs import EvalConfig, make_jobs

    data = {"backbone": {"type": "gaussian-mixture"}, "sampler": {"num_steps": 4}, "guidance": {"method": "none"}}
    config = EvalConfig("core", load_config({**data, "output": {"formats": ["gif"]}}))
    items = [SuiteItem("doomed", "a doomed circle"), SuiteItem("fine", "a fine circle")]
    jobs = make_jobs(items, [0], [config], ["kills-its-process"])
    engine = RayEngine(  # both jobs in one actor call: the batch is split to find the job that kills its actor
        {config.hash: config.config}, ["kills-its-process"], tmp_path, workers=1, batch=2
    )
    rows: list[Finished] = []
    failed: dict[str, str] = {}
    runner = threading.Thread(
        target=lambda: engine.run(jobs, rows.append, lambda job, message: failed.update({job.item.id: message})),
        daemon=True,
    )
    runner.start()
    runner.join(120)
    assert not runner.is_alive(), "the Ray engine requeued the job for ever"
    assert [row.key[0] for row in rows] == ["fine"] and list(failed) == ["doomed"]
    assert "its Ray actor died each of 2 times it ran" in failed["doomed"]
    assert engine.restarts == 3  # the batch once, then the job alone twice


def test_actors_share_one_concurrency_limit(local_ray, tmp_path) -> None:
    pytest.importorskip("f2g_plugin_openai")
    from f2g_core.evaluation import SuiteItem
    from f2g_lvlm.fake_server import Answer, FakeLVLMServer

    from f2g_eval.jobs import make_jobs

    from .test_limits import lvlm_config

    with FakeLVLMServer(Answer("Answer: 5"), latency=0.05) as server:
        config = lvlm_config(server)
        jobs = make_jobs([SuiteItem(f"i{k}", "a red circle moving left") for k in range(4)], [0], [config])
        engine = RayEngine({config.hash: config.config}, [], tmp_path, workers=2, run_limits=RunLimits(1, 20))
        rows: list[Finished] = []
        engine.run(jobs, rows.append, lambda job, message: pytest.fail(message))
        assert len(rows) == 4 and server.max_in_flight == 1
        # one budget for both actors: 4 videos wanted 24 calls, in steps of 3; 6 steps fit under 20
        assert server.request_count == 18 and engine.stats["calls"] == 18 and engine.stats["refused"] >= 1
