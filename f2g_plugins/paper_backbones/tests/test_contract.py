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
