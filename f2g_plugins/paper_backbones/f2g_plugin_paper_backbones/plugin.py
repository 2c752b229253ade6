"""The f2g entry point: registers the paper's backbones (modules import torch lazily, so listing stays fast)."""

from __future__ import annotations

from f2g_core.hookspecs import Register, hookimpl


@hookimpl
def register_backbones(register: Register) -> None:
    from f2g_plugin_paper_backbones.lavie import LaVieBackbone
    from f2g_plugin_paper_backbones.videocrafter2 import VideoCrafter2Backbone

    register(VideoCrafter2Backbone, aliases=("vc2",))
    register(LaVieBackbone)
