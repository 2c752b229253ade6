"""``f2g eval --engine ray --host NAME``: a reward and a metric each loaded once, on their own actors, serve four
sampling actors, and the scores equal the local engine's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="ray is not installed (pip install 'f2g-core[ray]')")

import ray
from f2g_core.errors import ConfigError

from f2g_eval.engines.ray_engine import RayEngine
from f2g_eval.jobs import Finished
from f2g_eval.limits import RunLimits
from f2g_eval.runner import EvalSpec, make_engine, prepare, run_eval

pytestmark = [
    pytest.mark.filterwarnings("ignore:metric 'mode-distance' is not held out"),
    pytest.mark.ray,  # scripts/test.sh: one serial run (they kill processes; `ray stop` ends every Ray)
]

GUIDED_CORE = """\
backbone: {type: gaussian-mixture}
rewards: [{type: mode-distance}]
sampler: {num_steps: 4}
guidance: {method: free2guide, options: {num_candidates: 3, num_guided_steps: 2}}
output: {formats: [gif]}
"""


@pytest.fixture
def files(core_files: dict[str, Path]) -> dict[str, Path]:
    core_files["guided"] = core_files["core"].with_name("guided.yaml")
    core_files["guided"].write_text(GUIDED_CORE)
    return core_files


@pytest.fixture
def local_ray(core_world_site: Path, files: dict[str, Path]):
    """A new local Ray (not one another process started) whose workers see the core's analytic world."""
    path = os.pathsep.join(filter(None, [str(core_world_site), os.environ.get("PYTHONPATH")]))
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
        object_store_memory=100 * 1024 * 1024, runtime_env={"env_vars": {"PYTHONPATH": path}},
    )  # fmt: skip
    yield
    ray.shutdown()


def spec(files: dict[str, Path], out: Path, engine: str, hosts: list[str]) -> EvalSpec:
    return EvalSpec(
        suite=str(files["suite"]), configs=[str(files["core"]), str(files["guided"])], out=out, seeds=[0, 1],
        metrics=["brightness"], engine=engine, workers=4, report=False, hosts=hosts,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_hosted_reward_and_metric_serve_four_sampling_actors(local_ray, files, tmp_path) -> None:
    hosts = ["mode-distance:num_cpus=0.5", "brightness:num_cpus=0.25,replicas=1"]
    ray_spec = spec(files, tmp_path / "ray", "ray", hosts)
    _, configs, jobs = prepare(ray_spec)
    engine = make_engine(ray_spec, configs, RunLimits())
    assert isinstance(engine, RayEngine)
    done: list[Finished] = []
    engine.run(jobs, done.append, lambda job, message: pytest.fail(message))
    rows = [d.video for d in done if d.video is not None]
    assert len(rows) == 8
    local = run_eval(spec(files, tmp_path / "local", "local", []))
    scores = {d.key: ({s.column: s.value for s in d.scores}, d.video.steps) for d in done if d.video is not None}
    assert scores == {r.key: (r.metrics, r.steps) for r in local.rows}

    sampling = set(map(str, engine.pids.values()))
    assert len(sampling) == 4
    (reward,) = next(v for k, v in engine.host_stats.items() if k.startswith("reward mode-distance"))
    (metric,) = engine.host_stats["metric brightness"]
    # one copy each, in a process of its own, serving the sampling actors that asked
    assert {reward["pid"], metric["pid"]}.isdisjoint(sampling)
    assert metric["requests"] == 8 and set(metric["callers"]) <= sampling
    assert set(metric["callers"]) == {row.worker.rpartition(":")[2] for row in rows}
    assert reward["requests"] == sum(len(row.steps) for row in rows)
    assert set(reward["callers"]) == {row.worker.rpartition(":")[2] for row in rows if row.config == "guided"}


def test_a_host_that_names_nothing_is_refused_before_anything_runs(files, tmp_path) -> None:
    with pytest.raises(ConfigError, match="--host clip: no reward of the configs"):
        prepare(spec(files, tmp_path / "out", "ray", ["clip"]))
    with pytest.raises(ConfigError, match="needs --engine ray"):
        prepare(spec(files, tmp_path / "out", "local", ["brightness"]))
    with pytest.raises(ConfigError, match="replicas"):
        prepare(spec(files, tmp_path / "out", "ray", ["brightness:replicas=0"]))
