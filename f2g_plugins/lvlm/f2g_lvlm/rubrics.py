"""Published video judges' protocols: their prompts, how they are shown the video, and how their answers are read.

A *rubric* is what a fine-tuned judge was trained to answer: one user turn (the video, then a fixed instruction
with the video's prompt in it) and a reply holding several 1–5 scores, each after a label. f2g reads each score
as the expectation over the answer digit's probabilities (in-process: the next-token distribution after the label,
the earlier labels' digits filled in greedily; remote: the parsed reply). The prompts are the references' own
text, verbatim, because the checkpoints were trained on them — they are interface data, shipped with their
source and licence noted; nothing else of the references is copied.

* ``videoscore2`` — VideoScore2 (TIGER-Lab, Qwen2.5-VL-7B): visual quality, text-to-video alignment,
  physical/common-sense consistency, 1–5; the video at 2 frames per second of its real frame rate.
  Prompt: ``VS2_QUERY_TEMPLATE`` of github.com/TIGER-AI-Lab/VideoScore2 ``vs2_inference.py`` (commit e6abe26),
  including its indentation and trailing spaces; that repository ships no licence file.
* ``unifiedreward`` — UnifiedReward-2.0 (CodeGoat24, Qwen2.5-VL / Qwen3-VL, 2B–72B) pointwise video
  generation: alignment, physics, style, 1–5; 16 frames as separate images, then the instruction.
  Prompt: ``problem`` of github.com/CodeGoat24/UnifiedReward
  ``inference_qwen/UnifiedReward-2.0-inference/point_score_APS_video_generation.py`` (commit ff6f520), MIT.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from f2g_lvlm.parsing import ParseFailure


@dataclass(frozen=True)
class RubricField:
    """One score of the reply: its dimension id and the reply text that comes before its digit."""

    dimension: str
    label: str
    """Reply text between the previous score's digit (or the start) and this score's digit."""
    pattern: str
    """Regular expression (case-insensitive) whose group 1 is this score in a free-form reply."""


@dataclass(frozen=True)
class Rubric:
    """A published judge's protocol (see the module text)."""

    name: str
    version: str
    instruction: str
    """The user text, with ``{prompt}`` where the video's prompt goes (``str.format``; no other braces)."""
    fields: tuple[RubricField, ...]
    media: Literal["video", "images"]
    """How the frames are shown: one video (frames at ``sample_fps``) or ``frame_count`` separate images."""
    sample_fps: float = 2.0
    frame_count: int = 16
    digits: tuple[str, ...] = ("1", "2", "3", "4", "5")
    source: str = ""
    licence: str = ""

    @property
    def dimensions(self) -> tuple[str, ...]:
        return tuple(f.dimension for f in self.fields)

    @property
    def fingerprint(self) -> str:
        return f"{self.name}@{self.version}"

    def text(self, prompt: str) -> str:
        """The user text for one video prompt."""
        return self.instruction.format(prompt=prompt)

    def answer(self, digits: Sequence[str]) -> str:
        """The reply text up to the next score's digit: the labels with ``digits`` filled in for the first ones."""
        parts = [f.label + d for f, d in zip(self.fields, digits, strict=False)]
        if len(digits) < len(self.fields):
            parts.append(self.fields[len(digits)].label)
        return "".join(parts)

    def parse(self, reply: str) -> dict[str, float]:
        """Each dimension's score in a free-form reply (the first match of each label, as the references search);
        ParseFailure if one is missing or outside the digits' range. Decimals (``2.4036``, as UnifiedReward-2.0
        writes) are kept."""
        low, high = float(self.digits[0]), float(self.digits[-1])
        scores: dict[str, float] = {}
        for f in self.fields:
            matches = re.findall(f.pattern, reply, flags=re.IGNORECASE | re.DOTALL)
            value = float(matches[0]) if matches else math.nan
            if not low <= value <= high:
                snippet = reply.strip().replace("\n", " ")[-80:]
                raise ParseFailure(f"{self.name}: no {f.dimension} score from {low:g} to {high:g} in {snippet!r}")
            scores[f.dimension] = value
        return scores


def evenly_spaced(total: int, count: int) -> list[int]:
    """The frames UnifiedReward-2.0's reader yields: frame ``int(i * total / count)`` for i < ``count``, each once
    and in order (so a video shorter than ``count`` frames gives all its frames)."""
    return sorted({int(i * total / count) for i in range(count)})


_VS2 = (
    "\n"
    "    You are an expert for evaluating AI-generated videos from three dimensions:\n"
    "    (1) visual quality \u2013 clarity, smoothness, artifacts;\n"
    "    (2) text-to-video alignment \u2013 fidelity to the prompt;\n"
    "    (3) physical/common-sense consistency \u2013 naturalness and physics plausibility.\n"
    "\n"
    "    Video prompt: {prompt}\n"
    "\n"
    "    Please output in this format:\n"
    "    visual quality: <v_score>; \n"
    "    text-to-video alignment: <t_score>, \n"
    "    physical/common-sense consistency: <p_score>\n"
    "    "
)

_UNIFIEDREWARD = (
    "You are presented with a generated video and its associated text caption. "
    "Your task is to analyze the video across multiple dimensions in relation to the caption. Specifically:\n"
    "Provide overall assessments for the video along the following axes (each rated from 1 to 5):\n"
    "- Alignment Score: How well the video matches the caption in terms of content.\n"
    "- Physics Score: How well the gravity, movements, collisions, and interactions make physical sense.\n"
    "- Style Score: How visually appealing the video looks, regardless of caption accuracy.\n\n"
    "Output your evaluation using the format below:\n\n"
    "Alignment Score (1-5): X\n"
    "Physics Score (1-5): Y\n"
    "Style Score (1-5): Z\n\n"
    "Your task is provided as follows:\n"
    "Text Caption: [{prompt}]"
)

_NUMBER = r"\s*\**\s*(\d+(?:\.\d+)?)"

RUBRICS: dict[str, Rubric] = {
    "videoscore2": Rubric(
        name="videoscore2",
        version="1",
        instruction=_VS2,
        fields=(
            RubricField("visual_quality", "visual quality: ", r"visual quality[^:\n]*:" + _NUMBER),
            RubricField("text_alignment", ";\ntext-to-video alignment: ", r"text-to-video alignment[^:\n]*:" + _NUMBER),
            RubricField(
                "physical_consistency",
                ",\nphysical/common-sense consistency: ",
                r"physical/common-sense consistency[^:\n]*:" + _NUMBER,
            ),
        ),
        media="video",
        sample_fps=2.0,
        source="github.com/TIGER-AI-Lab/VideoScore2 vs2_inference.py (commit e6abe26)",
        licence="no licence file in the reference repository; the prompt is shipped as interface data",
    ),
    "unifiedreward": Rubric(
        name="unifiedreward",
        version="1",
        instruction=_UNIFIEDREWARD,
        fields=(
            RubricField("alignment", "Alignment Score (1-5): ", r"Alignment Score \(1-5\):" + _NUMBER),
            RubricField("physics", "\nPhysics Score (1-5): ", r"Physics Score \(1-5\):" + _NUMBER),
            RubricField("style", "\nStyle Score (1-5): ", r"Style Score \(1-5\):" + _NUMBER),
        ),
        media="images",
        frame_count=16,
        source="github.com/CodeGoat24/UnifiedReward inference_qwen/UnifiedReward-2.0-inference/"
        "point_score_APS_video_generation.py (commit ff6f520)",
        licence="MIT (the UnifiedReward repository)",
    ),
}
"""The shipped rubrics by name."""
