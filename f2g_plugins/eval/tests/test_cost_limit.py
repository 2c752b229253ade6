"""An eval run's ``--max-cost-usd`` holds: no step is let through whose calls would pass the limit.

``--max-cost-usd 0.02`` spent $0.02375: the run's limit only refused a step once the spend had already reached
it, so the step that crossed it was paid in full. Steps are now priced at the mean cost of the calls so far (the
calls reserved and not yet paid included), and before the first paid call one call goes alone. What was spent
is read from the fake server's request log (every answered request costs the same).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("f2g_plugin_openai", reason="the shared-limit tests use the openai reward")
pytest.importorskip("f2g_plugin_shapes", reason="the eval tests run the shapes world (f2g-plugin-shapes)")

from f2g_core.config import load_config
from f2g_core.evaluation import SuiteItem
from f2g_lvlm.fake_server import Answer, FakeLVLMServer

from f2g_eval.engines.local import LocalEngine
from f2g_eval.jobs import EvalConfig, make_jobs
from f2g_eval.limits import RunLimits

PER_CALL = 0.00095
"""120 input and 16 output tokens at the prices below."""


def _config(server: FakeLVLMServer) -> EvalConfig:
    options = {
        "base_url": server.openai_base_url,
        "model": "fake",
        "cache": False,
        "prices": {"fake": {"input": 7.5, "output": 3.125}},
    }
    data = {
        "backbone": {"type": "shapes"},
        "rewards": [{"type": "openai", "options": options}],
        "sampler": {"num_steps": 8},
        "guidance": {"method": "free2guide", "options": {"num_candidates": 5, "num_guided_steps": 2}},
        "output": {"formats": ["gif"]},
    }
    return EvalConfig("lvlm", load_config(data))


@pytest.mark.parametrize("workers", [1, 3])
def test_the_run_cost_limit_is_never_overshot_by_a_step(tmp_path: Path, workers: int) -> None:
    limits = RunLimits(max_cost_usd=0.02)  # 21 calls; three videos × two steps × five candidates want 30
    with FakeLVLMServer(Answer("Answer: 5", input_tokens=120, output_tokens=16)) as server:
        config = _config(server)
        jobs = make_jobs([SuiteItem(f"i{k}", "a red circle moving left") for k in range(3)], [0], [config])
        rows: list = []
        LocalEngine({config.hash: config.config}, [], tmp_path, workers=workers, run_limits=limits).run(
            jobs, rows.append, lambda job, message: pytest.fail(message)
        )
        made = server.request_count
    assert len(rows) == 3
    assert made * PER_CALL <= 0.02 + 1e-12, made  # it was 25 calls, $0.02375
    assert limits.stats()["cost_usd"] == pytest.approx(made * PER_CALL)
    assert made >= 15  # the limit still lets whole steps through while they fit


def test_reservations_not_yet_paid_count_against_the_cost_limit() -> None:
    limits = RunLimits(max_cost_usd=0.01)
    assert limits.cost_unknown()
    assert asyncio.run(limits.reserve(1))
    limits.spend(0.002)
    assert not limits.cost_unknown()
    assert asyncio.run(limits.reserve(2))  # 0.002 paid + 2 × 0.002 reserved = 0.006
    assert not asyncio.run(limits.reserve(3))  # + 0.006 would be 0.012
    assert asyncio.run(limits.reserve(1)) and limits.stats()["refused"] == 1
