"""Published video judges in-process: VideoScore2 and UnifiedReward-2.0 on their own prompts, scored deterministically.

A rubric (:mod:`f2g_lvlm.rubrics`) says what the judge was trained on: its prompt, how the video is shown (one
video at 2 fps, or 16 separate frames) and the reply's labelled 1–5 scores. The references *generate* the reply
(VideoScore2 samples at temperature 0.7 after a chain of thought; UnifiedReward-2.0 decodes greedily) and parse the
digits. Here the reply is not generated: the assistant turn is filled with the labels, and each score reads the
next-token distribution after its label; the score is the expectation over the answer digits' probabilities
(softmax over the digits' logits, each digit pooling its one-token spellings). The video and the prompt are encoded
once per candidate and each score is a short continuation of their cached keys and values
(:class:`~f2g_plugin_transformers_vlm.prefix.SharedPrefix`; ``share_prefix: false``: one whole pass per score).
The digit written after a label before the next one is read is the most probable one (greedy). So a candidate
always gets the same score — a search over noise would otherwise rank candidates by sampling luck — and it varies
smoothly with the model's confidence, which a parsed digit cannot.

``rule: argmax-confidence`` gives VideoScore2's released ``vs2_inference.py`` rule instead: the most probable
digit times its share of the digits' probability mass.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from f2g_lvlm.rubrics import RUBRICS, Rubric, evenly_spaced
from f2g_torch_utils.frames import finite_candidates, frame_indices
from pydantic import Field

from f2g_core.errors import ComponentError, ConfigError
from f2g_core.evaluation import Metric, SuiteItem
from f2g_core.images import nearest_key_frames
from f2g_core.interfaces import Reward, RewardBatch, StepInfo
from f2g_plugin_transformers_vlm.answers import option_token_ids
from f2g_plugin_transformers_vlm.prefix import SharedPrefix
from f2g_plugin_transformers_vlm.reward import TransformersVLMReward, VLMLoadOptions
from f2g_plugin_transformers_vlm.tiny import tiny_for

log = logging.getLogger("f2g.lvlm")

Rule = Literal["expectation", "argmax-confidence"]


def digit_scores(digit_log_probs: Any, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
    """(rows,) scores and (rows,) greedy digit positions from (rows, digits) log-probabilities of the digits
    (:func:`~f2g_plugin_transformers_vlm.answers.option_log_probs`).

    ``expectation``: Σ d·softmax(digit log-probabilities)_d; ``argmax-confidence``: the most probable digit times its
    share of the digits' mass (VideoScore2's script).
    """
    import torch

    probs = torch.softmax(digit_log_probs.double(), dim=-1)
    values = torch.arange(1, digit_log_probs.shape[-1] + 1, dtype=torch.float64)
    best = probs.argmax(dim=-1)
    scores = (probs * values).sum(dim=-1) if rule == "expectation" else values[best] * probs.max(dim=-1).values
    return scores.cpu().numpy(), best.cpu().numpy()


class RubricOptions(Reward.Options, VLMLoadOptions):
    model: str = Field(
        "",
        description="Hub id or local folder of the judge (default: the published checkpoint), or 'tiny' (a seeded "
        "random miniature).",
    )
    batch_size: int = Field(4, ge=1, description="Candidates per forward pass (their videos, then their scores).")
    dimensions: list[str] | None = Field(None, description="Scores averaged into the reward (default: all).")
    rule: Rule = Field("expectation", description="How a digit distribution becomes a score (see the module text).")
    fps: float | None = Field(
        None, gt=0, description="Frame rate of the videos when the backbone does not report one (video judges)."
    )
    share_prefix: bool = Field(
        True,
        description="Encode the video and the prompt once per candidate and read each score as a continuation of "
        "its cached keys and values (False: one whole forward pass per score; same scores up to float rounding).",
    )
    tiny_family: Literal["qwen2.5-vl", "qwen3-vl"] = Field(
        "qwen2.5-vl", description="Architecture of the 'tiny' miniature."
    )


class RubricReward(Reward):
    """A published judge's rubric, in-process; subclasses name the rubric and the default checkpoint."""

    rubric: ClassVar[Rubric]
    default_model: ClassVar[str]
    Options = RubricOptions

    options: RubricOptions

    def __init__(self, options: RubricOptions | None = None) -> None:
        super().__init__(options)
        if not self.options.model:  # the resolved config written next to outputs names the checkpoint used
            self.options = self.options.model_copy(update={"model": self.default_model})
        known = self.rubric.dimensions
        chosen = self.options.dimensions or list(known)
        unknown = [d for d in chosen if d not in known]
        if unknown:
            raise ConfigError(f"{self.name} reward: unknown dimension(s) {unknown}; choose from {list(known)}")
        self.chosen = [known.index(d) for d in chosen]
        self.vlm: TransformersVLMReward | None = None
        self._digit_ids: list[list[int]] = []
        self._tiny_dir: tempfile.TemporaryDirectory[str] | None = None
        self._warned: set[tuple[Any, ...]] = set()
        self._usage = {"calls": 0.0, "candidates": 0.0, "nan_scores": 0.0}
        self.last_dimensions: np.ndarray | None = None
        """(candidates, dimensions) scores of the last batch, all of the rubric's dimensions."""

    # ------------------------------------------------------------------ loading

    def load(self) -> None:
        if self.vlm is not None:
            return
        o = self.options
        if o.model == "tiny":
            text = self.rubric.text("a red circle moving left") + self.rubric.answer(self.rubric.digits[:3])
            self._tiny_dir = tiny_for(text, o.tiny_family, self.name)
        vlm = TransformersVLMReward.for_scorer(
            o, self._tiny_dir.name if self._tiny_dir else o.model, batch_size=o.batch_size
        )
        self._digit_ids = [option_token_ids(vlm.processor.tokenizer, d) for d in self.rubric.digits]
        self.vlm = vlm

    def close(self) -> None:
        if self.vlm is not None:
            self.vlm.close()
        self.vlm = None
        self._tiny_dir = None  # removes the miniature's folder

    def usage(self) -> Mapping[str, float]:
        return dict(self._usage)

    def trace_info(self) -> dict[str, Any]:
        return {
            "model": self.options.model,
            "rubric": self.rubric.fingerprint,
            "dimensions": [self.rubric.dimensions[i] for i in self.chosen],
            "rule": self.options.rule,
        }

    # ------------------------------------------------------------------ frames and text

    def frames_for(self, batch: RewardBatch) -> tuple[list[int], list[int]]:
        """(positions in the batch's key frames, the video frames they stand for) of the frames the judge sees."""
        rubric = self.rubric
        if rubric.media == "video":
            fps = batch.fps if batch.fps is not None else self.options.fps
            if fps is None:
                raise ComponentError(
                    f"{self.name} reward: the frame rate of the videos is unknown (the backbone does not report one); "
                    "set the reward's options.fps to the rate the videos are meant to play at"
                )
            wanted = frame_indices(batch.num_frames, float(fps), rubric.sample_fps)
        else:
            wanted = evenly_spaced(batch.num_frames, rubric.frame_count)
        positions = nearest_key_frames(batch.frame_indices, wanted)
        key = (tuple(batch.frame_indices), batch.num_frames, batch.fps)
        if [batch.frame_indices[p] for p in positions] != wanted and key not in self._warned:
            self._warned.add(key)
            log.warning(
                "%s: the reference shows the judge frames %s of a %d-frame video; the key frames %s stand in with "
                "the nearest ones (set guidance.key_frames to %s for faithful scores)",
                self.name,
                wanted,
                batch.num_frames,
                list(batch.frame_indices),
                wanted,
            )
        return positions, wanted

    def chat_text(self, prompt: str, images: int) -> str:
        """The chat up to the assistant turn: the video (or ``images`` images), then the rubric's instruction."""
        assert self.vlm is not None
        media: list[dict[str, Any]] = (
            [{"type": "video"}] if self.rubric.media == "video" else [{"type": "image"}] * images
        )
        messages = [{"role": "user", "content": [*media, {"type": "text", "text": self.rubric.text(prompt)}]}]
        return str(self.vlm.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))

    # ------------------------------------------------------------------ scoring

    def dimension_scores(self, batch: RewardBatch, rows: list[int]) -> np.ndarray:
        """(len(rows), dimensions) scores. Per chunk of ``batch_size`` rows: the chat with the video encoded once,
        then one continuation pass per score (the reply filled up to its label), or whole passes without
        ``share_prefix``."""
        self.load()
        assert self.vlm is not None
        positions, wanted = self.frames_for(batch)
        chat = self.chat_text(batch.prompt, len(positions))
        out = np.full((len(rows), len(self.rubric.fields)), math.nan)
        with np.errstate(invalid="ignore"):
            pixels = batch.uint8()
        for start in range(0, len(rows), self.options.batch_size):
            chunk = rows[start : start + self.options.batch_size]
            media = self._media(pixels, chunk, positions, wanted, batch)
            prefix = SharedPrefix(
                self.vlm.model, self.vlm.processor, chat, media, len(chunk), self.options.batch_size,
                share=self.options.share_prefix,
            )  # fmt: skip
            digits: list[list[str]] = [[] for _ in chunk]
            for field in range(len(self.rubric.fields)):
                pooled = prefix.option_log_probs([[self.rubric.answer(d)] for d in digits], self._digit_ids)
                scores, best = digit_scores(pooled[:, 0], self.options.rule)
                out[start : start + len(chunk), field] = scores
                for row, b in enumerate(best):
                    digits[row].append(self.rubric.digits[int(b)])
            self._usage["calls"] += prefix.passes
        return out

    def _media(
        self, pixels: np.ndarray, chunk: list[int], positions: list[int], wanted: list[int], batch: RewardBatch
    ) -> dict[str, Any]:
        """The processor's image or video arguments for the candidates of ``chunk``."""
        from PIL import Image

        if self.rubric.media == "images":
            return {"images": [[Image.fromarray(pixels[i, p]) for p in positions] for i in chunk]}
        fps = float(batch.fps if batch.fps is not None else self.options.fps or 0.0)
        metadata = {"fps": fps, "total_num_frames": batch.num_frames, "frames_indices": wanted}
        return {
            "videos": [pixels[i][positions] for i in chunk],
            "video_metadata": [dict(metadata) for _ in chunk],
            "do_sample_frames": False,
        }

    def score(self, batch: RewardBatch) -> list[float]:
        """The mean of the chosen dimensions (1–5); NaN for candidates with non-finite frames (never shown)."""
        ok = [int(i) for i in np.flatnonzero(finite_candidates(batch.frames))]
        dims = np.full((len(batch), len(self.rubric.fields)), math.nan)
        if ok:
            dims[ok] = self.dimension_scores(batch, ok)
        self.last_dimensions = dims
        scores = dims[:, self.chosen].mean(axis=1)
        self._usage["candidates"] += len(batch)
        self._usage["nan_scores"] += int(np.isnan(scores).sum())
        return [float(s) for s in scores]


class VideoScore2Reward(RubricReward):
    """VideoScore2 (TIGER-Lab, Qwen2.5-VL-7B): visual quality, text alignment, physical consistency, each 1–5."""

    name = "videoscore2"
    rubric = RUBRICS["videoscore2"]
    default_model = "TIGER-Lab/VideoScore2"


class UnifiedRewardReward(RubricReward):
    """UnifiedReward-2.0 (Qwen2.5-VL / Qwen3-VL): alignment, physics, style of 16 frames, each 1–5."""

    name = "unifiedreward"
    rubric = RUBRICS["unifiedreward"]
    default_model = "CodeGoat24/UnifiedReward-2.0-qwen3vl-8b"


class RubricMetric(Metric):
    """A rubric judge as an eval metric: every dimension of the whole finished video, and their mean."""

    reward_class: ClassVar[type[RubricReward]]
    Options = RubricOptions

    options: RubricOptions

    def __init__(self, options: RubricOptions | None = None) -> None:
        super().__init__(options)
        self.reward = self.reward_class(self.options)
        self.dimensions = (*self.reward_class.rubric.dimensions, "overall")  # type: ignore[misc]
        self.related_rewards = (self.reward_class.name,)  # type: ignore[misc]

    def load(self) -> None:
        self.reward.load()

    def close(self) -> None:
        self.reward.close()

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        return self.measure_video(item, video, None)

    def measure_video(self, item: SuiteItem, video: np.ndarray, fps: float | None) -> Mapping[str, float | None]:
        frames = tuple(range(video.shape[0]))  # the whole video: the judge picks its frames as the reference does
        batch = RewardBatch(
            prompt=item.prompt,
            frames=np.asarray(video)[None],
            frame_indices=frames,
            num_frames=len(frames),
            step=StepInfo.final(1),
            fps=fps,
        )
        overall = self.reward.score(batch)[0]
        dims = self.reward.last_dimensions
        assert dims is not None
        values = {d: float(v) for d, v in zip(self.reward_class.rubric.dimensions, dims[0], strict=True)}
        return {**values, "overall": float(overall)}


class VideoScore2Metric(RubricMetric):
    name = "videoscore2"
    reward_class = VideoScore2Reward


class UnifiedRewardMetric(RubricMetric):
    name = "unifiedreward"
    reward_class = UnifiedRewardReward
