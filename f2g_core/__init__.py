"""f2g: train-free, gradient-free reward guidance (Free²Guide) for text-to-video diffusion models.

This module is the flat public facade of the SDK: a plugin author imports every base class, data type, error and the
hook marker from here (``from f2g_core import Reward, Sampler, hookimpl``), and a user the run API (``Pipeline``,
``generate``, ``RunConfig``, ``load_config``, ``RunResult``). Every name is imported lazily, on first use, so
``import f2g_core`` (and importing a submodule such as ``f2g_core.hookspecs``, which every plugin does) stays as
light as before: no numpy, torch or pydantic until a name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_LAZY = {
    # running
    "Pipeline": "f2g_core.pipeline",
    "RunResult": "f2g_core.pipeline",
    "generate": "f2g_core.pipeline",
    "RunConfig": "f2g_core.config",
    "load_config": "f2g_core.config",
    # plugin hooks
    "hookimpl": "f2g_core.hookspecs",
    "Register": "f2g_core.hookspecs",
    # components and what they receive
    "Component": "f2g_core.interfaces",
    "Reward": "f2g_core.interfaces",
    "AsyncReward": "f2g_core.interfaces",
    "RewardBatch": "f2g_core.interfaces",
    "StepInfo": "f2g_core.interfaces",
    "Combiner": "f2g_core.interfaces",
    "Backbone": "f2g_core.interfaces",
    "Schedule": "f2g_core.interfaces",
    "Level": "f2g_core.interfaces",
    # search methods
    "Sampler": "f2g_core.population",
    "Step": "f2g_core.population",
    "Population": "f2g_core.population",
    "Candidates": "f2g_core.population",
    "Toolbox": "f2g_core.population",
    "Tools": "f2g_core.sampling",
    "INIT_STEP": "f2g_core.randomness",
    "FINAL_STEP": "f2g_core.randomness",
    # evaluation components
    "Metric": "f2g_core.evaluation",
    "NamedSuite": "f2g_core.evaluation",
    "Suite": "f2g_core.evaluation",
    "SuiteItem": "f2g_core.evaluation",
    # errors
    "F2GError": "f2g_core.errors",
    "ConfigError": "f2g_core.errors",
    "ComponentError": "f2g_core.errors",
    "CredentialsError": "f2g_core.errors",
    "PluginError": "f2g_core.errors",
    "BudgetExceeded": "f2g_core.errors",
    "UnguidedRun": "f2g_core.errors",
}

__all__ = [
    "FINAL_STEP",
    "INIT_STEP",
    "AsyncReward",
    "Backbone",
    "BudgetExceeded",
    "Candidates",
    "Combiner",
    "Component",
    "ComponentError",
    "ConfigError",
    "CredentialsError",
    "F2GError",
    "Level",
    "Metric",
    "NamedSuite",
    "Pipeline",
    "PluginError",
    "Population",
    "Register",
    "Reward",
    "RewardBatch",
    "RunConfig",
    "RunResult",
    "Sampler",
    "Schedule",
    "Step",
    "StepInfo",
    "Suite",
    "SuiteItem",
    "Toolbox",
    "Tools",
    "UnguidedRun",
    "__version__",
    "generate",
    "hookimpl",
    "load_config",
]

if TYPE_CHECKING:
    from f2g_core.config import RunConfig, load_config
    from f2g_core.errors import (
        BudgetExceeded,
        ComponentError,
        ConfigError,
        CredentialsError,
        F2GError,
        PluginError,
        UnguidedRun,
    )
    from f2g_core.evaluation import Metric, NamedSuite, Suite, SuiteItem
    from f2g_core.hookspecs import Register, hookimpl
    from f2g_core.interfaces import (
        AsyncReward,
        Backbone,
        Combiner,
        Component,
        Level,
        Reward,
        RewardBatch,
        Schedule,
        StepInfo,
    )
    from f2g_core.pipeline import Pipeline, RunResult, generate
    from f2g_core.population import Candidates, Population, Sampler, Step, Toolbox
    from f2g_core.randomness import FINAL_STEP, INIT_STEP
    from f2g_core.sampling import Tools


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'f2g_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
