"""A custom combiner and a custom sampler defined inline — no package, no entry point — and used from a config.

``load_plugins(extra=[(name, plugin)])`` loads the installed plugins plus any object whose attributes are hook
implementations, so a script or a notebook can register components on the spot.

    python examples/custom_components.py [--steps 50]

The sampler part is written against the sampler plugin kind announced for f2g-core 0.2 (``register_samplers``);
on an f2g-core without it, the script says so and runs the combiner part only.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
from pydantic import Field

from f2g_core import Pipeline, hookspecs
from f2g_core.hookspecs import Register, hookimpl
from f2g_core.interfaces import Combiner
from f2g_core.plugins import load_plugins


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


def sampler_plugin() -> Any:
    """An inline sampler, in the announced shape: one short step function over the toolbox."""
    from f2g_core.interfaces import Sampler  # type: ignore[attr-defined]  # arrives with register_samplers

    class KeepIfBetter(Sampler):  # type: ignore[misc, valid-type]
        """Free²Guide with a margin: keep a proposal only if it beats the unguided one by `margin`."""

        name = "keep-if-better"

        class Options(Sampler.Options):  # type: ignore[misc, name-defined]
            num_candidates: int = Field(4, ge=1, description="Proposals per guided step.")
            margin: float = Field(0.1, ge=0, description="How much better than candidate 0 a proposal must be.")

        def step(self, state: Any, tools: Any) -> Any:
            candidates, candidate_x0 = tools.propose(state.x, state.x0, self.options.num_candidates)
            scores = np.asarray(tools.score(tools.key_frames(candidate_x0)), dtype=np.float64)
            best = int(np.nanargmax(scores)) if np.isfinite(scores).any() else 0
            return state.keep(candidates, candidate_x0, best if scores[best] > scores[0] + self.options.margin else 0)

    @hookimpl
    def register_samplers(register: Register) -> None:
        register(KeepIfBetter)

    return SimpleNamespace(register_samplers=register_samplers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    extra: list[tuple[str, Any]] = [("inline-combiner", SimpleNamespace(register_combiners=register_combiners))]
    has_samplers = hasattr(hookspecs, "register_samplers")
    if has_samplers:
        extra.append(("inline-sampler", sampler_plugin()))
    else:
        print("this f2g-core has no sampler plugins (register_samplers) yet: running the combiner part only")
    registry = load_plugins(extra=extra).registry
    config: dict[str, Any] = {
        "backbone": {"type": "shapes"},
        "rewards": [{"type": "shapes-judge", "weight": 0.5}, {"type": "shapes-oracle", "weight": 0.5}],
        "combiner": {"type": "geometric-mean"},
        "sampler": {"num_steps": args.steps},
        "guidance": {"num_candidates": 4, "num_guided_steps": 4},
    }
    with Pipeline.from_config(config, registry=registry) as pipeline:
        result = pipeline.generate("a green square moving right", seed=0)
    print("geometric-mean kept", [step.chosen for step in result.trace.steps if step.guided])
    if has_samplers:
        config["guidance"] = {"method": "keep-if-better", "options": {"num_candidates": 4, "margin": 0.1}}
        with Pipeline.from_config(config, registry=registry) as pipeline:
            result = pipeline.generate("a green square moving right", seed=0)
        print("keep-if-better guided", sum(step.guided for step in result.trace.steps), "steps")


if __name__ == "__main__":
    main()
