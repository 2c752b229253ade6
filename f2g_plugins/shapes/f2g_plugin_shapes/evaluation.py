"""The shapes world in ``f2g eval``: its benchmark suite and its exact evaluator as a multi-dimension metric.

Light at import (no torch, no scipy): the evaluator is imported when the metric first measures.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np
from f2g_core.eval.metrics import Metric
from f2g_core.eval.suites import NamedSuite, SuiteItem
from pydantic import Field

CATEGORIES = ("single", "multiple", "relation")
SUITE_SEED = 20_241_126


class ShapesBenchmarkSuite(NamedSuite):
    """The shapes benchmark: single objects with motion, two objects ("and") and spatial relations, fixed seeds."""

    name = "shapes-benchmark"

    class Options(NamedSuite.Options):
        pairs: int = Field(400, ge=1, description="Number of (prompt, seed) pairs: 40% single, 30% two, 30% relation.")
        categories: str = Field("single,multiple,relation", description="Comma-separated categories to keep.")

    def items(self) -> Sequence[SuiteItem]:
        """Item ``k`` of a category is the same prompt and seed whatever ``pairs`` is (one generator per category),
        so a larger suite extends a smaller one and their results share the store."""
        from f2g_plugin_shapes.world import random_prompt

        counts = {"single": round(self.options.pairs * 0.4), "multiple": round(self.options.pairs * 0.3)}
        counts["relation"] = self.options.pairs - counts["single"] - counts["multiple"]
        wanted = {c.strip() for c in self.options.categories.split(",")}
        items = []
        for category in CATEGORIES:
            if category not in wanted:
                continue
            rng = random.Random(f"{SUITE_SEED}-{category}")
            for rank in range(counts[category]):
                prompt = random_prompt(rng, category, motion_prob=1.0 if category == "single" else 0.5)
                items.append(SuiteItem(f"{category}-{rank:03d}", prompt.text(), category, (), rng.randrange(10**6)))
        return items


class ShapesMetric(Metric):
    """The exact, rule-based evaluator of the shapes world (pass = 1, fail = 0) plus its graded score in [0, 1]."""

    name = "shapes"
    dimensions = ("object_class", "colour", "motion", "multiple_objects", "spatial_relation", "overall", "score")
    related_rewards = ("shapes-oracle",)

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        from f2g_plugin_shapes.evaluator import evaluate

        verdict = evaluate(item.prompt, video)
        values: dict[str, float | None] = {k: None if v is None else float(v) for k, v in verdict.dimensions.items()}
        values["score"] = float(verdict.score)
        return values
