"""Entry point of ``f2g-plugin-clip``: registers the ``clip``, ``pickscore`` and ``hps`` rewards.

Only classes are registered; no model library is imported until a reward's ``load()``.
"""

from __future__ import annotations

from f2g_core.hookspecs import Register, hookimpl
from f2g_plugin_clip.clip_reward import ClipReward
from f2g_plugin_clip.hps import HPSReward
from f2g_plugin_clip.pickscore import PickScoreReward


@hookimpl
def register_rewards(register: Register) -> None:
    register(ClipReward)
    register(PickScoreReward)
    register(HPSReward, aliases=("hpsv2",))
