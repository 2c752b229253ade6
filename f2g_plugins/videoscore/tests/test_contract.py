"""f2g's reward contract (f2g_core.contracts) on ``videoscore`` with the seeded miniature (``model: tiny``)."""

from __future__ import annotations

from typing import Any, ClassVar

import f2g_plugin_videoscore.plugin as plugin

from f2g_core.contracts import RewardContract


class TestVideoScoreContract(RewardContract):
    plugin = plugin
    component_id = "videoscore"
    options: ClassVar[dict[str, Any]] = {"model": "tiny", "device": "cpu"}
