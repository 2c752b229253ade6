"""One remote-reward concurrency limit and one budget per eval run, shared by every worker thread.

A real openai client talks to the fake LVLM server on 127.0.0.1; each reward instance allows 8 requests in flight,
three worker threads each hold their own, and the run allows 1 (or a few calls) in total.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("f2g_plugin_openai", reason="the shared-limit tests use the openai reward")

from f2g_core.evaluation import SuiteItem
from f2g_lvlm.fake_server import Answer, FakeLVLMServer

from f2g_eval.engines.local import LocalEngine
from f2g_eval.jobs import EvalConfig, Finished, make_jobs
from f2g_eval.limits import RunLimits


def lvlm_config(server: FakeLVLMServer) -> EvalConfig:
    from f2g_core.config import load_config

    options = {"base_url": server.openai_base_url, "model": "fake", "cache": False, "max_concurrency": 8}
    data = {
        "backbone": {"type": "shapes"},
        "rewards": [{"type": "openai", "options": options}],
        "sampler": {"num_steps": 8},
        "guidance": {"method": "free2guide", "options": {"num_candidates": 3, "num_guided_steps": 2}},
        "output": {"formats": ["gif"]},
    }
    return EvalConfig("lvlm", load_config(data))


def run(tmp_path: Path, server: FakeLVLMServer, limits: RunLimits) -> list:
    config = lvlm_config(server)
    items = [SuiteItem(f"i{k}", "a red circle moving left") for k in range(3)]
    jobs = make_jobs(items, [0], [config])
    done: list[Finished] = []
    LocalEngine({config.hash: config.config}, [], tmp_path, workers=3, run_limits=limits).run(
        jobs, done.append, lambda job, message: pytest.fail(message)
    )
    return [d.video for d in done]


def test_threads_share_one_concurrency_limit(tmp_path: Path) -> None:
    with FakeLVLMServer(Answer("Answer: 5"), latency=0.05) as server:
        run(tmp_path / "free", server, RunLimits())
        assert server.max_in_flight > 1  # without a run limit the threads overlap their requests
        server.reset()
        rows = run(tmp_path / "limited", server, RunLimits(max_concurrency=1))
        assert server.max_in_flight == 1 and server.request_count == 3 * 2 * 3
    assert len(rows) == 3 and all(r.reward_calls == 6 for r in rows)


def test_threads_share_one_call_budget(tmp_path: Path) -> None:
    limits = RunLimits(max_calls=9)
    with FakeLVLMServer(Answer("Answer: 5")) as server:
        rows = run(tmp_path, server, limits)
        assert server.request_count == 9  # 3 videos × 2 steps × 3 candidates wanted 18
    assert limits.stats()["refused"] >= 1
    stopped = [r for r in rows if any("budget" in e for e in r.events)]
    assert stopped and all(len(r.events) >= 1 for r in stopped)
