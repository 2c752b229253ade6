"""Rewards of the shapes world: ``shapes-judge`` (learned, sees the grid) and ``shapes-oracle`` (exact rules)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from f2g_core.interfaces import Reward, RewardBatch
from pydantic import Field

from f2g_plugin_shapes.grammar import PromptError, parse_prompt


class ShapesJudgeReward(Reward):
    """Learned judge: expected 1–9 rating of the labelled 2×2 key-frame grid (a stand-in for an LVLM)."""

    name: ClassVar[str] = "shapes-judge"

    class Options(Reward.Options):
        weights: str | None = Field(None, description="Path to judge safetensors; default: the shipped weights.")
        expectation: bool = Field(
            True, description="Score by the expected rating (True) or the most likely rating (False)."
        )

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self._calls = 0

    def load(self) -> None:
        from f2g_plugin_shapes.judge import load_judge

        load_judge(self.options.weights)

    def check_key_frames(self, frame_indices: Sequence[int], num_frames: int) -> None:
        if len(frame_indices) != 4:
            raise ValueError(
                f"shapes-judge rates 2×2 grids of 4 key frames, got {len(frame_indices)}; "
                "give guidance.key_frames four frames, or null for the default"
            )

    def score(self, batch: RewardBatch) -> Sequence[float]:
        from f2g_plugin_shapes.judge import expected_rating, rate_grids

        if len(batch.frame_indices) != 4:
            raise ValueError(f"shapes-judge rates 2×2 grids of 4 key frames, got {len(batch.frame_indices)} frames")
        finite = [i for i in range(len(batch)) if np.isfinite(batch.frames[i]).all()]  # never rate a failed decode
        scores = [math.nan] * len(batch)
        if not finite:
            return scores
        try:
            probs = rate_grids([batch.prompt] * len(finite), [batch.grid(i) for i in finite], self.options.weights)
        except PromptError:
            return scores
        self._calls += len(finite)
        ratings = expected_rating(probs) if self.options.expectation else probs.argmax(-1) + 1
        for i, rating in zip(finite, ratings, strict=True):
            scores[i] = float(rating)
        return scores

    def usage(self) -> dict[str, float]:
        return {"calls": float(self._calls)}


class ShapesOracleReward(Reward):
    """Exact rule-based evaluator as a reward: graded score in [0, 1] (upper bound for learned rewards)."""

    name: ClassVar[str] = "shapes-oracle"

    class Options(Reward.Options):
        graded: bool = Field(True, description="Graded score in [0, 1] (True) or the 0/1 overall verdict (False).")

    def score(self, batch: RewardBatch) -> Sequence[float]:
        from f2g_plugin_shapes.evaluator import evaluate

        try:
            prompt = parse_prompt(batch.prompt)
        except PromptError:
            return [math.nan] * len(batch)
        out = []
        for i in range(len(batch)):
            result = evaluate(prompt, batch.frames[i], batch.frame_indices)
            out.append(result.score if self.options.graded else float(result.overall))
        return [float(v) for v in np.asarray(out)]
