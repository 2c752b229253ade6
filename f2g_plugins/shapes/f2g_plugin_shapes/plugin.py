"""f2g entry point of f2g-plugin-shapes: registers the backbone and rewards, provides the default run config.

Only light modules are imported here (no torch), so listing plugins stays fast.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from f2g_core.hookspecs import Register, hookimpl

from f2g_plugin_shapes.backbone import ShapesBackbone
from f2g_plugin_shapes.rewards import ShapesJudgeReward, ShapesOracleReward

DEFAULT_GUIDANCE: dict[str, Any] = {"method": "prune", "budget": {"model_calls": 150}}
"""The guidance ``f2g generate PROMPT`` uses: the method that won at this budget on the scaling study's dev split
(docs/samplers.md#scaling-study); its options follow from the budget by its rule. ``--method free2guide`` runs the
paper's method on the same budget."""
DEFAULT_STEPS = 25
"""Sampling steps of the default run: the scaling study's T (every method and budget there ran at 25 steps)."""


@hookimpl
def register_backbones(register: Register) -> None:
    register(ShapesBackbone)


@hookimpl
def register_rewards(register: Register) -> None:
    register(ShapesJudgeReward)
    register(ShapesOracleReward)


@hookimpl
def register_suites(register: Register) -> None:
    from f2g_plugin_shapes.evaluation import ShapesBenchmarkSuite

    register(ShapesBenchmarkSuite)


@hookimpl
def register_metrics(register: Register) -> None:
    from f2g_plugin_shapes.evaluation import ShapesMetric

    register(ShapesMetric)


@hookimpl
def default_run_config() -> Mapping[str, Any]:
    return {
        "backbone": {"type": "shapes", "options": {}},
        "rewards": [{"type": "shapes-judge", "options": {}}],
        "sampler": {"num_steps": DEFAULT_STEPS, "eta": 1.0},
        "guidance": copy.deepcopy(DEFAULT_GUIDANCE),
    }


def _backbone_type(config: Any) -> str | None:
    backbone = config.get("backbone") if isinstance(config, Mapping) else getattr(config, "backbone", None)
    if backbone is None:
        return None
    value = backbone.get("type") if isinstance(backbone, Mapping) else getattr(backbone, "type", None)
    return str(value) if value is not None else None


@hookimpl
def describe_result(prompt: str, video: Any, config: Any) -> str | None:
    """The exact evaluator's verdict, for videos made by the ``shapes`` backbone."""
    if _backbone_type(config) != ShapesBackbone.name:
        return None
    from f2g_plugin_shapes.evaluator import evaluate
    from f2g_plugin_shapes.grammar import PromptError

    try:
        return evaluate(prompt, video).summary()
    except PromptError as error:
        return f"shapes evaluator: cannot evaluate this prompt ({error})"
