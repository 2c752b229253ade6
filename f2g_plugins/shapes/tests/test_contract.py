"""f2g's reward, backbone and metric contracts (f2g_core.contracts) on the shapes
world's components."""

from __future__ import annotations

from typing import ClassVar

from f2g_core.contracts import BackboneContract, MetricContract, RewardContract

import f2g_plugin_shapes.plugin as plugin


class TestShapesBackboneContract(BackboneContract):
    plugin = plugin
    component_id = "shapes"
    prompt: ClassVar[str] = "a red circle moving left"


class TestShapesJudgeContract(RewardContract):
    plugin = plugin
    component_id = "shapes-judge"


class TestShapesOracleContract(RewardContract):
    plugin = plugin
    component_id = "shapes-oracle"


class TestShapesMetricContract(MetricContract):
    plugin = plugin
    component_id = "shapes"
