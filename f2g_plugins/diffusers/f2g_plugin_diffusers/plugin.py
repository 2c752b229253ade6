"""The f2g entry point: registers one backbone class per diffusers model family."""

from __future__ import annotations

from f2g_core.hookspecs import Register, hookimpl


@hookimpl
def register_backbones(register: Register) -> None:
    """Register the diffusers backbones (imports are local so listing plugins stays fast)."""
    from f2g_plugin_diffusers.wan import WanBackbone

    register(WanBackbone, aliases=("wan2.1", "wan2.2"))
