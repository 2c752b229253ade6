"""The f2g entry point: registers one backbone class per diffusers model family."""

from __future__ import annotations

from f2g_core.hookspecs import Register, hookimpl


@hookimpl
def register_backbones(register: Register) -> None:
    """Register the diffusers backbones. The family modules import torch lazily, so listing plugins stays fast."""
    from f2g_plugin_diffusers.cogvideox import CogVideoXBackbone
    from f2g_plugin_diffusers.hunyuan import HunyuanVideoBackbone
    from f2g_plugin_diffusers.ltx import LTXVideoBackbone
    from f2g_plugin_diffusers.unet import AnimateDiffBackbone, ModelScopeBackbone, VideoCrafter2Backbone
    from f2g_plugin_diffusers.wan import WanBackbone

    register(WanBackbone, aliases=("wan2.1", "wan2.2"))
    register(LTXVideoBackbone, aliases=("ltx",))
    register(HunyuanVideoBackbone, aliases=("hunyuanvideo",))
    register(CogVideoXBackbone)
    register(AnimateDiffBackbone)
    register(ModelScopeBackbone, aliases=("zeroscope",))
    register(VideoCrafter2Backbone)
