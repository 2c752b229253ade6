"""Rewards that ship with f2g-core: ``remote``, the client of ``f2g serve reward`` (another Python environment)."""

from f2g_core.hookspecs import Register, hookimpl
from f2g_core.serving.client import RemoteReward


@hookimpl
def register_rewards(register: Register) -> None:
    register(RemoteReward)
