"""The ``unifiedreward-openai`` reward: UnifiedReward-2.0 served by vLLM or SGLang, asked as its reference asks.

The reference (CodeGoat24/UnifiedReward, ``point_score_APS_video_generation.py`` with ``vllm_qwen/vllm_request.py``)
serves the checkpoint under the name ``UnifiedReward`` (``vllm serve CodeGoat24/UnifiedReward-2.0-qwen3vl-8b
--served-model-name UnifiedReward``) and sends one user turn: 16 frames of the video as images (frame
``int(i * total / 16)``), then its pointwise instruction with the caption; greedy decoding. The reply holds
``Alignment Score (1-5): X``, ``Physics Score (1-5): Y`` and ``Style Score (1-5): Z`` — the checkpoints write
decimals (the reference's example: 2.4036, 3.0987, 3.3889). The reward is the mean of the chosen dimensions of the
parsed reply, in [1, 5]; a reply missing one is asked again, then scores NaN.

Differences from the reference, on purpose: frames go as lossless PNG (the reference re-encodes JPEG files at
quality 95); the frames are the key frames nearest to the reference's 16 (a warning says which to set as
``guidance.key_frames`` for exact ones); retries, cache and budget are f2g's.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from f2g_lvlm.accounting import Price
from f2g_lvlm.parsing import AnswerScore
from f2g_lvlm.reward import LVLMRequest, LVLMResponse
from f2g_lvlm.rubrics import RUBRICS, evenly_spaced
from f2g_lvlm.templates import Template
from PIL import Image
from pydantic import Field

from f2g_core.errors import ConfigError
from f2g_core.images import nearest_key_frames
from f2g_core.interfaces import RewardBatch
from f2g_plugin_openai.reward import OpenAIOptions, OpenAIReward

log = logging.getLogger("f2g.lvlm")

RUBRIC = RUBRICS["unifiedreward"]


class UnifiedRewardOpenAIOptions(OpenAIOptions):
    model: str = Field("UnifiedReward", description="The served model name (the reference's --served-model-name).")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0: greedy, as the reference decodes.")
    max_tokens: int = Field(4096, ge=1, description="The reference's max_tokens.")
    detail: Literal["low", "high", "auto"] = Field("auto", description="Image detail (the reference sends none).")
    logprobs: bool = Field(False, description="Unused: the reply's decimal scores are parsed, as the reference does.")
    prices: dict[str, Price] = Field(
        default_factory=lambda: {"UnifiedReward": Price(input=0.0, output=0.0)},
        description="Model → USD per 1M input/output tokens (your own server: free unless you say otherwise).",
    )
    dimensions: list[str] = Field(
        list(RUBRIC.dimensions), description="Scores averaged into the reward: alignment, physics, style."
    )


class UnifiedRewardOpenAI(OpenAIReward):
    """UnifiedReward-2.0 behind an OpenAI-compatible server: alignment, physics and style (1–5) of 16 frames."""

    name = "unifiedreward-openai"
    Options = UnifiedRewardOpenAIOptions
    default_model = "UnifiedReward"

    options: UnifiedRewardOpenAIOptions

    def __init__(self, options: UnifiedRewardOpenAIOptions | None = None) -> None:
        super().__init__(options)
        unknown = [d for d in self.options.dimensions if d not in RUBRIC.dimensions]
        if unknown or not self.options.dimensions:
            raise ConfigError(
                f"unifiedreward-openai reward: dimensions {self.options.dimensions} — choose one or more of "
                f"{list(RUBRIC.dimensions)}"
            )
        # The reference's prompt as an f2g template: no system message, the instruction as the user text.
        self.template = Template(RUBRIC.name, RUBRIC.version, "", RUBRIC.instruction)
        self._warned: set[tuple[int, ...]] = set()

    def load(self) -> None:
        if self.is_official():
            raise ConfigError(
                "unifiedreward-openai reward: UnifiedReward-2.0 is served by your own vLLM/SGLang server; set its "
                "base_url (e.g. http://localhost:8080/v1) or OPENAI_BASE_URL"
            )
        super().load()

    def images_for(self, batch: RewardBatch, index: int) -> tuple[tuple[Image.Image, ...], tuple[str, ...]]:
        """The key frames nearest to the reference's 16, uncaptioned."""
        wanted = evenly_spaced(batch.num_frames, RUBRIC.frame_count)
        positions = nearest_key_frames(batch.frame_indices, wanted)
        if [batch.frame_indices[p] for p in positions] != wanted and tuple(batch.frame_indices) not in self._warned:
            self._warned.add(tuple(batch.frame_indices))
            log.warning(
                "unifiedreward-openai: the reference shows frames %s; the key frames %s stand in with the nearest "
                "ones (set guidance.key_frames to %s for faithful scores)",
                wanted,
                list(batch.frame_indices),
                wanted,
            )
        frames = batch.pil_frames(index)
        return tuple(frames[p] for p in positions), ("",) * len(positions)

    def user_content(self, request: LVLMRequest) -> list[dict[str, Any]]:
        """The reference's order: the images first, then the instruction."""
        return [*self.image_parts(request), {"type": "text", "text": request.prompt.question}]

    def score_reply(self, response: LVLMResponse, request: LVLMRequest) -> AnswerScore:
        scores = RUBRIC.parse(response.text)
        value = sum(scores[d] for d in self.options.dimensions) / len(self.options.dimensions)
        answer = ", ".join(f"{d}={scores[d]:g}" for d in RUBRIC.dimensions)
        return AnswerScore(value, answer, "parsed", probs=None)

    def cache_params(self) -> dict[str, Any]:
        return {**super().cache_params(), "dimensions": self.options.dimensions}
