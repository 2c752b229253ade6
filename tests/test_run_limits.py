"""Run-wide limits on remote calls are a service the pipeline hands its rewards, scoped to one run: nothing
process-global, so two pipelines in one process never share (or leak) limits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from f2g_core.errors import BudgetExceeded
from f2g_core.interfaces import Reward
from f2g_core.limits import NO_LIMITS, SharedLimits
from f2g_core.pipeline import Pipeline


class Counting:
    """A CallLimits that allows ``calls`` reservations and counts what it is asked."""

    def __init__(self, calls: int) -> None:
        self.left = calls
        self.in_flight = 0
        self.most = 0
        self.spent: list[float] = []

    async def acquire(self) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)

    def release(self) -> None:
        self.in_flight -= 1

    async def reserve(self, calls: int) -> bool:
        if calls > self.left:
            return False
        self.left -= calls
        return True

    def spend(self, cost_usd: float) -> None:
        self.spent.append(cost_usd)

    def cost_unknown(self) -> bool:
        return not self.spent


def _config(gmm_config: dict[str, Any]) -> dict[str, Any]:
    return {**gmm_config, "rewards": [{"type": "brightness"}, {"type": "mode-distance"}]}


def test_the_pipeline_hands_its_limits_to_every_reward(register_plugin: Any, gmm_config: dict[str, Any]) -> None:
    from f2g_core import gaussian_mixture

    gmm_registry = register_plugin(gaussian_mixture, "gaussian-mixture").registry
    first, second = Counting(3), Counting(100)
    one = Pipeline.from_config(_config(gmm_config), registry=gmm_registry, limits=first)
    two = Pipeline.from_config(_config(gmm_config), registry=gmm_registry, limits=second)
    plain = Pipeline.from_config(_config(gmm_config), registry=gmm_registry)
    assert [r.shared_limits.limits for r in one.rewards.values()] == [first, first]
    assert [r.shared_limits.limits for r in two.rewards.values()] == [second, second]
    assert all(r.shared_limits.limits is None for r in plain.rewards.values())
    assert Reward.shared_limits is NO_LIMITS and NO_LIMITS.limits is None  # the class default stays free

    reward_one, reward_two = next(iter(one.rewards.values())), next(iter(two.rewards.values()))
    with pytest.raises(BudgetExceeded, match="brightness reward: the run's shared budget"):
        asyncio.run(reward_one.shared_limits.reserve(4, "brightness reward"))
    asyncio.run(reward_two.shared_limits.reserve(4, "brightness reward"))  # the other run's limits are its own
    assert (first.left, second.left) == (3, 96)


def test_a_view_of_no_limits_allows_everything_and_a_view_of_limits_counts() -> None:
    async def use(view: SharedLimits) -> None:
        await view.reserve(10**9, "any reward")
        async with view.slot(), view.slot():
            pass
        view.record_cost(0.5)

    asyncio.run(use(SharedLimits()))
    assert not SharedLimits().cost_unknown()
    limits = Counting(10**9)
    view = SharedLimits(limits)
    assert view.cost_unknown()
    asyncio.run(use(view))
    assert (limits.most, limits.in_flight, limits.spent) == (2, 0, [0.5])
    assert not view.cost_unknown()
