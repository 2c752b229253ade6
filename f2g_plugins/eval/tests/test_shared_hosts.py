"""Shared reward and metric hosts: one loaded copy serves every worker of a process, requests that wait for it are
batched into one call, one bad request fails alone, and the scores equal those of a private copy per worker."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from f2g_core.gaussian_mixture import Brightness, ModeReward
from f2g_core.hosting import BatchingHost, SharedReward, each
from f2g_core.interfaces import RewardBatch, StepInfo

from f2g_eval.engines.local import LocalEngine
from f2g_eval.hosts import HostPool, SharedMetric
from f2g_eval.jobs import Finished
from f2g_eval.limits import RunLimits
from f2g_eval.runner import EvalSpec, make_engine, prepare, run_eval

pytestmark = pytest.mark.filterwarnings("ignore:metric 'mode-distance' is not held out")

GUIDED_CORE = """\
backbone: {type: gaussian-mixture}
rewards: [{type: mode-distance}]
sampler: {num_steps: 4}
guidance: {method: free2guide, options: {num_candidates: 3, num_guided_steps: 2}}
output: {formats: [gif]}
"""
HANG = 20.0
"""Seconds after which a wait counts as a hang (the tests finish in well under one)."""


def test_requests_waiting_for_a_busy_host_are_batched_into_one_call() -> None:
    entered, release = threading.Event(), threading.Event()
    calls: list[list[int]] = []

    def run_many(requests: list[int]) -> list[int]:
        calls.append(list(requests))
        if len(calls) == 1:
            entered.set()
            assert release.wait(HANG)
        return [r * 10 for r in requests]

    host: BatchingHost[int, int] = BatchingHost(run_many, "test")
    first = host.submit(1)
    assert entered.wait(HANG)  # the host is busy with request 1
    waiting = [host.submit(r) for r in (2, 3, 4)]
    release.set()
    assert [f.result(HANG) for f in (first, *waiting)] == [10, 20, 30, 40]
    assert calls == [[1], [2, 3, 4]]
    assert (host.calls, host.requests, host.largest_batch) == (2, 4, 3)
    host.close()


def test_a_bad_request_fails_alone() -> None:
    entered, release = threading.Event(), threading.Event()

    def run_many(requests: list[int]) -> list[int]:
        if requests == [0]:
            entered.set()
            assert release.wait(HANG)
        if -1 in requests:
            raise ValueError("no negatives")
        return [r + 1 for r in requests]

    host: BatchingHost[int, int] = BatchingHost(run_many, "test")
    busy = host.submit(0)
    assert entered.wait(HANG)
    good, bad, other = host.submit(1), host.submit(-1), host.submit(2)
    release.set()
    assert (busy.result(HANG), good.result(HANG), other.result(HANG)) == (1, 2, 3)
    with pytest.raises(ValueError, match="no negatives"):
        bad.result(HANG)
    host.close()


def test_each_keeps_a_system_exit_as_its_requests_answer() -> None:
    def measure(x: int) -> int:
        if x == 2:
            raise SystemExit(3)
        return x

    host: BatchingHost[int, int] = BatchingHost(each(measure), "test")
    assert host(1) == 1
    with pytest.raises(SystemExit):
        host(2)
    assert host(3) == 3  # the host thread lived through it
    host.close()


def batch_of(prompt: str, values: list[float]) -> RewardBatch:
    frames = np.stack([np.full((2, 4, 4, 3), v, dtype=np.float32) for v in values])[:, :, :, :, :]
    return RewardBatch(prompt, frames, (0, 1), 2, StepInfo(0, 4, 999.0))


def test_shared_reward_scores_equal_the_rewards_own_from_many_threads() -> None:
    private = ModeReward()
    shared = SharedReward(ModeReward())
    shared.load()
    batches = [batch_of(f"p{i}", [0.1 * i, 0.5, 0.9 - 0.1 * i]) for i in range(8)]
    results: dict[int, list[float]] = {}

    def work(i: int) -> None:
        results[i] = list(shared.score(batches[i]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG)
    assert results == {i: list(private.score(b)) for i, b in enumerate(batches)}
    assert shared.name == "mode-distance"
    shared.shutdown()


def test_a_pool_shares_one_instance_per_distinct_component(core_world: Path) -> None:
    pool = HostPool()
    one, two = ModeReward(), ModeReward()
    other = ModeReward(ModeReward.Options(target=[0.0, 0.0]))
    assert pool.reward(one) is pool.reward(two)
    assert pool.reward(other) is not pool.reward(one)
    assert isinstance(pool.metric("brightness"), SharedMetric)
    assert pool.metric("brightness") is pool.metric("brightness")
    assert HostPool(share=False).reward(one) is one
    pool.close()


def four_worker_spec(files: dict[str, Path], out: Path, share: bool) -> EvalSpec:
    return EvalSpec(
        suite=str(files["suite"]), configs=[str(files["core"]), str(files["guided"])], out=out, seeds=[0, 1],
        metrics=["brightness", "mode-distance"], workers=4, report=False, share=share,
    )  # fmt: skip


@pytest.fixture
def four_worker_files(core_files: dict[str, Path]) -> dict[str, Path]:
    core_files["guided"] = core_files["core"].with_name("guided.yaml")
    core_files["guided"].write_text(GUIDED_CORE)
    return core_files


def test_four_workers_share_one_loaded_metric_and_score_as_private_copies(
    four_worker_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    load = Brightness.load
    monkeypatch.setattr(Brightness, "load", lambda self: (loads.append(threading.current_thread().name), load(self)))
    rows = {}
    for share in (True, False):
        loads.clear()
        outcome = run_eval(four_worker_spec(four_worker_files, tmp_path / str(share), share))
        assert not outcome.failures
        rows[share] = {row.key: (row.metrics, row.steps) for row in outcome.rows}
        # each of the 4 worker threads builds its metrics when it starts: 4 copies when private, 1 when shared
        assert len(loads) == (1 if share else 4), loads
    assert len(rows[True]) == 8
    assert rows[True] == rows[False]


def test_the_shared_hosts_served_every_worker(four_worker_files: dict[str, Path], tmp_path: Path) -> None:
    spec = four_worker_spec(four_worker_files, tmp_path / "out", True)
    _, configs, jobs = prepare(spec)
    engine = make_engine(spec, configs, RunLimits())
    assert isinstance(engine, LocalEngine)
    done: list[Finished] = []
    engine.run(jobs, done.append, lambda job, message: pytest.fail(message))
    rows = [d.video for d in done if d.video is not None]
    assert engine.hosts is not None
    hosts = engine.hosts.components()
    # one guiding reward (mode-distance, shared by the workers' pipelines) and two metrics
    assert sorted(type(h).__name__ for h in hosts) == ["SharedMetric", "SharedMetric", "SharedReward"]
    assert {row.worker for row in rows} <= {f"local-{i}" for i in range(4)}
    reward = next(h for h in hosts if isinstance(h, SharedReward))
    assert reward.host.requests == sum(len(row.steps) for row in rows)  # every guided step of every worker
    assert [h.host.requests for h in hosts if isinstance(h, SharedMetric)] == [len(rows)] * 2
