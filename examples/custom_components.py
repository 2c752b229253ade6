"""A custom combiner and a custom sampler defined inline — no package, no entry point — and used from a config.

``load_plugins(extra=[(name, plugin)])`` loads the installed plugins plus any object whose attributes are hook
implementations, so a script or a notebook can register components on the spot.

    python examples/custom_components.py [--steps 50]

The sampler is a :class:`~f2g_core.population.Sampler` registered through ``register_samplers`` and chosen with
``guidance: {method: keep-if-better, options: {...}}`` (docs/samplers.md, "Writing a method").
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
from pydantic import Field

from f2g_core import Pipeline
from f2g_core.hookspecs import Register, hookimpl
from f2g_core.interfaces import Combiner
from f2g_core.plugins import load_plugins
from f2g_core.population import Population, Sampler, Step, Toolbox


class GeometricMean(Combiner):
    """Weighted geometric mean of positive scores: a candidate must do well on every reward."""

    name = "geometric-mean"

    class Options(Combiner.Options):
        epsilon: float = Field(1e-6, gt=0, description="Scores below this count as this (no log of zero).")

    def combine(self, scores: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
        names = list(scores)
        matrix = np.stack([np.asarray(scores[name], dtype=np.float64) for name in names])  # NaN stays NaN
        w = np.asarray([weights[name] for name in names])[:, None]
        logs = np.log(np.maximum(matrix, self.options.epsilon))
        return np.exp((w * logs).sum(axis=0) / w.sum())


@hookimpl
def register_combiners(register: Register) -> None:
    register(GeometricMean)


class KeepIfBetter(Sampler):
    """Free²Guide with a margin: keep a proposal only if it beats the plain transition (candidate 0) by `margin`."""

    name = "keep-if-better"

    class Options(Sampler.Options):
        num_candidates: int = Field(4, ge=1, description="Proposals per guided step.")
        num_guided_steps: int = Field(4, ge=0, description="How many steps are guided, from the first one.")
        margin: float = Field(0.1, ge=0, description="How much better than candidate 0 a proposal must be.")

    def model_calls(self, num_steps: int) -> int:
        return num_steps + self.options.num_guided_steps * (self.options.num_candidates - 1)

    def step(self, tools: Toolbox, population: Population, k: int) -> Step:
        if k >= self.options.num_guided_steps or not tools.guiding:
            return tools.plain(population, k)
        candidates = tools.propose(population, k, self.options.num_candidates)
        scores = tools.score_candidates(candidates, k)  # NaN for a candidate no reward could score
        plain = np.repeat(scores[candidates.index == 0], self.options.num_candidates)  # each row's candidate 0
        beats = scores > np.nan_to_num(plain, nan=-np.inf) + self.options.margin
        return tools.keep_best(candidates, np.where(beats, scores, np.nan))  # none beats it: candidate 0 is kept


@hookimpl
def register_samplers(register: Register) -> None:
    register(KeepIfBetter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    registry = load_plugins(
        extra=[
            ("inline-combiner", SimpleNamespace(register_combiners=register_combiners)),
            ("inline-sampler", SimpleNamespace(register_samplers=register_samplers)),
        ]
    ).registry
    config: dict[str, Any] = {
        "backbone": {"type": "shapes"},
        "rewards": [{"type": "shapes-judge", "weight": 0.5}, {"type": "shapes-oracle", "weight": 0.5}],
        "combiner": {"type": "geometric-mean"},
        "sampler": {"num_steps": args.steps},
        "guidance": {"method": "free2guide", "options": {"num_candidates": 4, "num_guided_steps": 4}},
    }
    with Pipeline.from_config(config, registry=registry) as pipeline:
        result = pipeline.generate("a green square moving right", seed=0)
    print("geometric-mean kept", [step.chosen for step in result.trace.steps if step.guided])
    for margin in (0.0, 1e9):  # a margin nothing can beat keeps the plain transition at every step
        config["guidance"] = {"method": "keep-if-better", "options": {"num_candidates": 4, "margin": margin}}
        with Pipeline.from_config(config, registry=registry) as pipeline:
            result = pipeline.generate("a green square moving right", seed=0)
        print(f"keep-if-better margin={margin:g} kept", [step.chosen for step in result.trace.steps if step.guided])


if __name__ == "__main__":
    main()
