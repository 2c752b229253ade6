"""Entry point of ``f2g-plugin-checklist``: registers the ``checklist`` reward (no torch import here)."""

from __future__ import annotations

from f2g_core.hookspecs import Register, hookimpl


@hookimpl
def register_rewards(register: Register) -> None:
    from f2g_plugin_checklist.reward import ChecklistReward

    register(ChecklistReward)
