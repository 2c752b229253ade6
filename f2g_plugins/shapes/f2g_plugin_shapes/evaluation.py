"""The shapes world in ``f2g eval``: its benchmark suite and its exact evaluator as a multi-dimension metric.

Light at import (no torch, no scipy): the evaluator is imported when the metric first measures.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from f2g_core.errors import ConfigError
from f2g_core.evaluation import Metric, NamedSuite, SuiteItem
from pydantic import Field

CATEGORIES = ("single", "multiple", "relation")
SHARES = {"single": 0.4, "multiple": 0.3, "relation": 0.3}
SUITE_SEED = 20_241_126


class ShapesBenchmarkSuite(NamedSuite):
    """The shapes benchmark: single objects with motion, two objects ("and") and spatial relations, fixed seeds."""

    name = "shapes-benchmark"

    class Options(NamedSuite.Options):
        pairs: int = Field(
            400, ge=1, description="Number of (prompt, seed) pairs, shared 40 : 30 : 30 by single : two : relation."
        )
        categories: str = Field(
            "single+multiple+relation",
            description="Categories to keep, joined by '+' (e.g. multiple+relation: the two-object prompts).",
        )
        split: Literal["test", "dev"] = Field(
            "test", description="test: the benchmark's pairs; dev: disjoint pairs to tune settings on first."
        )

    def items(self) -> Sequence[SuiteItem]:
        """Item ``k`` of a category is the same prompt and seed whatever ``pairs`` is (one generator per category
        and split), so a larger suite extends a smaller one and their results share the store."""
        from f2g_plugin_shapes.world import random_prompt

        wanted = [c for c in CATEGORIES if c in {c.strip() for c in re.split(r"[+,]", self.options.categories)}]
        unknown = {c.strip() for c in re.split(r"[+,]", self.options.categories)} - set(CATEGORIES) - {""}
        if unknown or not wanted:
            raise ConfigError(
                f"shapes-benchmark categories={self.options.categories!r}: use {'+'.join(CATEGORIES)} or a part of it"
            )
        share = {c: SHARES[c] / sum(SHARES[w] for w in wanted) for c in wanted}
        counts = {c: round(self.options.pairs * share[c]) for c in wanted[:-1]}
        counts[wanted[-1]] = self.options.pairs - sum(counts.values())
        stream = "" if self.options.split == "test" else "-dev"
        items = []
        for category in wanted:
            rng = random.Random(f"{SUITE_SEED}-{category}{stream}")
            for rank in range(counts[category]):
                prompt = random_prompt(rng, category, motion_prob=1.0 if category == "single" else 0.5)
                item_id = f"{category}{stream}-{rank:03d}"
                items.append(SuiteItem(item_id, prompt.text(), category, (), rng.randrange(10**6)))
        return items


class ShapesMetric(Metric):
    """The exact, rule-based evaluator of the shapes world (pass = 1, fail = 0) plus its graded score in [0, 1]."""

    name = "shapes"
    dimensions = ("object_class", "colour", "motion", "multiple_objects", "spatial_relation", "overall", "score")
    related_rewards = ("shapes-oracle",)

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        from f2g_plugin_shapes.evaluator import evaluate

        if not np.isfinite(video).all():  # unreadable frames: failed (NaN), never a verdict on garbage
            return dict.fromkeys(self.dimensions, math.nan)
        verdict = evaluate(item.prompt, video)
        values: dict[str, float | None] = {k: None if v is None else float(v) for k, v in verdict.dimensions.items()}
        values["score"] = float(verdict.score)
        return values
