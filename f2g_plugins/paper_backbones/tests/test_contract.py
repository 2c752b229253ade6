"""f2g's backbone contract (f2g_core.contracts) on both paper backbones, with their tiny random models."""

from __future__ import annotations

from typing import Any, ClassVar

import f2g_plugin_paper_backbones.plugin as plugin

from f2g_core.contracts import BackboneContract

TINY = {"model": "tiny", "device": "cpu"}  # 16×16, 8 frames: the tiny defaults


class PaperBackboneContract(BackboneContract):
    plugin = plugin
    options: ClassVar[dict[str, Any]] = TINY


class TestVideoCrafter2Contract(PaperBackboneContract):
    component_id = "videocrafter2"


class TestLaVieContract(PaperBackboneContract):
    component_id = "lavie"
    # x̂0 at level 0 is (x - σ·ε)/α with α ≈ 0.07 and CFG 7.5 on ε: the ~1e-6 rounding by which a batched UNet call
    # differs from a single one comes out as ~2e-4 on x̂0 of magnitude ~15 (1e-5 relative to the largest value).
    denoise_atol: ClassVar[float] = 1e-3
