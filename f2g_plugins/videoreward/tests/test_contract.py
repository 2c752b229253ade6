"""f2g's reward and metric contracts (f2g_core.contracts) on ``videoreward`` with the
seeded miniature (``model: tiny``)."""

from __future__ import annotations

from typing import Any, ClassVar

import f2g_plugin_videoreward.plugin as plugin

from f2g_core.contracts import MetricContract, RewardContract


class TestVideoRewardContract(RewardContract):
    plugin = plugin
    component_id = "videoreward"
    options: ClassVar[dict[str, Any]] = {"model": "tiny", "fps": 8.0, "device": "cpu"}


class TestVideoRewardMetricContract(MetricContract):
    plugin = plugin
    component_id = "videoreward"
    options: ClassVar[dict[str, Any]] = {"model": "tiny", "fps": 8.0, "device": "cpu"}
