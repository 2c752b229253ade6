"""The ``checklist`` reward: an open VLM answers yes/no questions about the key frames; the score weighs its margins.

For each question the chat prompt shows the frames and asks the question; the model's next-token distribution is
the first answer token's, and the question's margin is P(yes) − P(no) (each pooling its token variants ``"yes"``,
``" Yes"`` …, probabilities over the whole vocabulary, so an answer that is neither counts as neither). The score is
Σ wᵢ·marginᵢ divided by the number of questions (``average: count``, VisionReward's rule: the mean of weight × ±1
answers, here with expected answers) or by Σ |wᵢ| (``average: weights``, a weighted mean in [−1, 1]).

Questions and weights come from a preset (``visionreward-video``: VisionReward-Video's 29 questions and fitted
weights, Apache-2.0) or from the options. ``backend: transformers`` loads the model in-process through
``f2g-plugin-transformers-vlm`` (any checkpoint ``AutoModelForImageTextToText`` loads, with a chat template): the
frames and the chat before the question are encoded once per candidate and the questions run as batched
continuations of that cache (:class:`~f2g_plugin_transformers_vlm.prefix.SharedPrefix`); ``backend: openai``
asks an OpenAI-compatible server (vLLM, SGLang) and reads the first answer token's top log-probabilities
(:mod:`f2g_plugin_checklist.remote`, which says what is shared across questions).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from f2g_plugin_transformers_vlm.prefix import SharedPrefix
from f2g_plugin_transformers_vlm.reward import TransformersVLMReward, VLMLoadOptions
from f2g_plugin_transformers_vlm.tiny import tiny_for
from pydantic import Field, model_validator

from f2g_core.config import HttpURL
from f2g_core.errors import ConfigError
from f2g_core.interfaces import Reward, RewardBatch
from f2g_plugin_checklist.remote import RemoteChecklist

PRESETS = Path(__file__).with_name("presets")
PROMPT_SLOT = "[[prompt]]"
"""Where a question takes the video's prompt (VisionReward's marker)."""
ANSWER_INSTRUCTION = "Answer yes or no."
QUESTION_SLOT = "\x00question\x00"
"""Stands for the question when the chat is rendered to find the text every question shares."""


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.json"))


def read_preset(name: str) -> dict[str, Any]:
    """A shipped checklist: questions, weights, how to average, and where they come from (licence)."""
    path = PRESETS / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"checklist: unknown preset {name!r} (available: {', '.join(preset_names())})")
    preset: dict[str, Any] = json.loads(path.read_text())
    return preset


class ChecklistOptions(Reward.Options, VLMLoadOptions):
    backend: Literal["transformers", "openai"] = Field(
        "transformers",
        description="'transformers': the model in-process; 'openai': an OpenAI-compatible server (vLLM, SGLang) "
        "returning top_logprobs.",
    )
    model: str = Field(
        "Qwen/Qwen2.5-VL-7B-Instruct",
        description="Hub id or local folder of the VLM checkpoint, or 'tiny': a seeded random Qwen2.5-VL built offline "
        "(tests, demos); with backend 'openai', the model name the server serves.",
    )
    base_url: HttpURL | None = Field(
        None, description="backend 'openai': the server, e.g. http://localhost:8000/v1 (default: $OPENAI_BASE_URL)."
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="backend 'openai': environment variable holding the key (local servers: none)."
    )
    top_logprobs: int = Field(20, ge=1, le=20, description="backend 'openai': alternatives read at the answer token.")
    max_concurrency: int = Field(8, ge=1, description="backend 'openai': requests in flight at once.")
    timeout: float = Field(60.0, gt=0, description="backend 'openai': seconds per request.")
    max_retries: int = Field(2, ge=0, description="backend 'openai': the client's retries of failed requests.")
    batch_size: int = Field(
        8, ge=1, description="Candidates whose frames are encoded in one pass, and question continuations per pass."
    )
    images: Literal["grid", "frames"] = Field(
        "frames", description="'frames': one image per key frame; 'grid': one labelled grid image."
    )
    preset: str | None = Field(
        "visionreward-video", description="Shipped questions and weights; None: give questions (and weights)."
    )
    questions: list[str] | None = Field(
        None, description=f"Yes/no questions (replace the preset's); {PROMPT_SLOT} is replaced by the prompt."
    )
    share_prefix: bool = Field(
        True,
        description="backend 'transformers': encode the frames and the chat before the question once per candidate "
        "and run the questions as continuations of its cached keys and values (False: one whole forward pass per "
        "question; same margins up to float rounding).",
    )
    weights: list[float] | None = Field(None, description="One weight per question (default: the preset's, or 1).")
    average: Literal["count", "weights"] | None = Field(
        None,
        description="Divide Σ w·margin by the number of questions ('count', VisionReward's rule) or by Σ|w| "
        "('weights'); None: the preset's rule, else 'weights'.",
    )

    @model_validator(mode="after")
    def _checklist(self) -> ChecklistOptions:
        questions, weights, _ = self.resolved()
        if not questions:
            raise ValueError("give questions, or a preset")
        if len(weights) != len(questions):
            raise ValueError(f"{len(weights)} weights for {len(questions)} questions: give one weight per question")
        if not all(math.isfinite(w) for w in weights) or not any(weights):
            raise ValueError("weights must be finite and not all zero")
        if self.backend == "openai" and self.model == "tiny":
            raise ValueError("model 'tiny' is an in-process miniature: use backend 'transformers' with it")
        return self

    def resolved(self) -> tuple[list[str], list[float], str]:
        """(questions, weights, average) after the preset and the explicit options."""
        preset = read_preset(self.preset) if self.preset else {}
        if self.questions is not None:
            questions = list(self.questions)
            weights = list(self.weights) if self.weights is not None else [1.0] * len(questions)
            average = self.average or "weights"
        else:
            questions = list(preset.get("questions", []))
            weights = list(self.weights if self.weights is not None else preset.get("weights", []))
            average = self.average or preset.get("average", "weights")
        return questions, [float(w) for w in weights], average


class ChecklistReward(Reward):
    """An open VLM answers a yes/no checklist about the key frames; weighted P(yes) − P(no) (VisionReward-style)."""

    name = "checklist"
    Options = ChecklistOptions

    options: ChecklistOptions

    def __init__(self, options: ChecklistOptions | None = None) -> None:
        super().__init__(options)
        self.questions, weights, self.average = self.options.resolved()
        self.weights = np.asarray(weights, dtype=np.float64)
        self.vlm: TransformersVLMReward | None = None
        self.remote: RemoteChecklist | None = None
        self._usage = {"calls": 0.0, "candidates": 0.0, "nan_scores": 0.0}
        self._tiny_dir: tempfile.TemporaryDirectory[str] | None = None
        self.last_margins: np.ndarray | None = None
        """(candidates, questions) P(yes) − P(no) of the last batch, for inspection."""

    def load(self) -> None:
        if self.vlm is not None or self.remote is not None:
            return
        o = self.options
        if o.backend == "openai":
            import openai  # noqa: F401  (imported now, not in the first guided step)

            self.remote = RemoteChecklist(o)
            self.remote.base_url()  # a missing address is refused at load, not mid-video
            return
        if o.model == "tiny":
            self._tiny_dir = tiny_for(" ".join(self.questions) + " " + ANSWER_INSTRUCTION, label="checklist")
        model = self._tiny_dir.name if self._tiny_dir else o.model
        self.vlm = TransformersVLMReward.for_scorer(o, model, batch_size=o.batch_size, scale="yes-no", images=o.images)

    def close(self) -> None:
        if self.vlm is not None:
            self.vlm.close()
        self.vlm = None
        self.remote = None
        self._tiny_dir = None  # removes the miniature's folder

    def usage(self) -> Mapping[str, float]:
        return dict(self._usage)

    def content(self, question: str, frame_count: int) -> list[dict[str, Any]]:
        """The user turn: the key frames (labelled in ``frames`` mode), then the question; ``{"type": "image"}``
        marks where each image goes. Both backends send this, so they ask the same thing."""
        content: list[dict[str, Any]] = []
        images = 1 if self.options.images == "grid" else frame_count
        for k in range(images):
            if self.options.images == "frames":
                content.append({"type": "text", "text": f"Frame {k + 1} of {frame_count}:"})
            content.append({"type": "image"})
        content.append({"type": "text", "text": f"{question} {ANSWER_INSTRUCTION}"})
        return content

    def trace_info(self) -> dict[str, Any]:
        return {
            "model": self.options.model,
            "preset": self.options.preset if self.options.questions is None else None,
            "backend": self.options.backend,
            "questions": len(self.questions),
            "average": self.average,
        }

    def _text(self, question: str, frame_count: int) -> str:
        assert self.vlm is not None
        messages = [{"role": "user", "content": self.content(question, frame_count)}]
        return str(self.vlm.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))

    def _prompt_parts(self, questions: list[str], frame_count: int) -> tuple[str, list[str]]:
        """The chat text every question shares (the frames, up to where the question starts) and each question's
        rest; ("", whole texts) where the chat template does not render the questions after a common prefix."""
        prefix = self._text(QUESTION_SLOT, frame_count).split(QUESTION_SLOT)[0]
        texts = [self._text(question, frame_count) for question in questions]
        if not all(text.startswith(prefix) for text in texts):
            return "", texts
        return prefix, [text[len(prefix) :] for text in texts]

    def margins(self, batch: RewardBatch, candidates: list[int]) -> np.ndarray:
        """(len(candidates), questions) P(yes) − P(no) of the first answer token. In-process: per chunk of
        ``batch_size`` candidates, the frames and the chat before the question are encoded once and the questions
        run as continuations of their cache, ``batch_size`` per pass (``share_prefix: false``: one whole pass per
        question)."""
        self.load()
        if self.remote is not None:
            before = self.remote.calls
            remote = self.remote.margins(batch, candidates, self.questions, self.content)
            self._usage["calls"] += self.remote.calls - before
            return remote
        assert self.vlm is not None
        o = self.options
        questions = [question.replace(PROMPT_SLOT, batch.prompt) for question in self.questions]
        prefix, rests = self._prompt_parts(questions, len(batch.frame_indices))
        out = np.full((len(candidates), len(self.questions)), math.nan)
        for start in range(0, len(candidates), o.batch_size):
            rows = candidates[start : start + o.batch_size]
            images = [[batch.grid(i)] if o.images == "grid" else batch.pil_frames(i) for i in rows]
            shared = SharedPrefix(
                self.vlm.model, self.vlm.processor, prefix, {"images": images}, len(rows), o.batch_size,
                share=o.share_prefix and bool(prefix),
            )  # fmt: skip
            probs = shared.option_log_probs([rests] * len(rows), self.vlm.option_ids()).double().exp()
            out[start : start + len(rows)] = (probs[..., 0] - probs[..., 1]).numpy()
            self._usage["calls"] += shared.passes
        return out

    def score(self, batch: RewardBatch) -> list[float]:
        """NaN for candidates with non-finite frames (never shown to the model) or non-finite margins."""
        finite = [i for i in range(len(batch)) if np.isfinite(batch.frames[i]).all()]
        scores = np.full(len(batch), math.nan)
        margins = np.full((len(batch), len(self.questions)), math.nan)
        if finite:
            margins[finite] = self.margins(batch, finite)
            divisor = len(self.questions) if self.average == "count" else float(np.abs(self.weights).sum())
            scores[finite] = margins[finite] @ self.weights / divisor
        self.last_margins = margins
        self._usage["candidates"] += len(batch)
        self._usage["nan_scores"] += int(np.isnan(scores).sum())
        return [float(s) for s in scores]
