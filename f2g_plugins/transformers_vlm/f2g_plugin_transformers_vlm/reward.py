"""The ``transformers-vlm`` reward: an open VLM in-process rates the key frames, scored from its answer logits.

The same protocol as the remote judges (``f2g_lvlm``), without generation: the chat prompt ends with the
assistant turn already begun with ``Answer:``, one forward pass gives the next-token distribution, and the score is
the expectation over the answer options (digits 1–9, or P(yes)), each option pooling the probability of its token
variants (``"7"``, ``" 7"``; ``"yes"``, ``" Yes"`` …). Candidates are batched (left padding), so a step of n
candidates costs ⌈n / batch_size⌉ forward passes. Works with models that load through
``AutoModelForImageTextToText`` + ``AutoProcessor`` and have a chat template: Qwen2.5-VL, SmolVLM/Idefics3,
LLaVA(-OneVision), Gemma 3 … transformers is imported in ``load()``, never at plugin import.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from f2g_lvlm.parsing import DIGITS, score_from_logits
from f2g_lvlm.templates import TemplateOptions, build_prompt
from f2g_torch_utils.devices import resolve_device, resolve_dtype
from pydantic import BaseModel, Field

from f2g_core.errors import ComponentError, ConfigError
from f2g_core.interfaces import Reward, RewardBatch
from f2g_plugin_transformers_vlm.answers import option_log_probs, option_token_ids
from f2g_plugin_transformers_vlm.prefix import last_log_probs, model_inputs

log = logging.getLogger("f2g.lvlm")


class VLMLoadOptions(BaseModel):
    """How an in-process VLM is loaded and run — the same options for every scorer built on it (transformers-vlm,
    the rubric judges, the checklist); mixed into their ``Options``."""

    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    local_files_only: bool = Field(False, description="Never contact the hub (also implied by HF_HUB_OFFLINE=1).")
    device: str = Field("auto", description="'auto' (cuda, then mps, then cpu), or a torch device such as 'cuda:1'.")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto", description="'auto': bfloat16 on GPUs that support it, float16 on other GPUs, float32 on CPU."
    )
    attn_implementation: str | None = Field(None, description="e.g. 'sdpa' or 'flash_attention_2'.")


class TransformersVLMOptions(Reward.Options, TemplateOptions, VLMLoadOptions):
    model: str = Field("Qwen/Qwen2.5-VL-3B-Instruct", description="Hub id or local folder of the checkpoint.")
    trust_remote_code: bool = Field(False, description="Allow checkpoints that ship their own modelling code.")
    batch_size: int = Field(8, ge=1, description="Candidates per forward pass.")
    template: str = Field("free2guide-direct", description="Built-in template (the answer-only variant).")
    answer_prefix: str | None = Field(
        None, description="Text that starts the assistant turn (default: the template's 'Answer:')."
    )
    system_role: bool = Field(True, description="Send the system text as a system message (else prepend it).")


class TransformersVLMReward(Reward):
    """An open VLM (Qwen2.5-VL, SmolVLM, LLaVA …) in-process rates the key frames, from its answer-token logits."""

    name = "transformers-vlm"
    Options = TransformersVLMOptions

    options: TransformersVLMOptions

    def __init__(self, options: TransformersVLMOptions | None = None) -> None:
        super().__init__(options)
        o = self.options
        self.template = o.resolved_template()
        if o.template_version is None:  # the resolved config written next to outputs then names the version
            self.options = o = o.model_copy(update={"template_version": self.template.version})
        self.model: Any = None
        self.processor: Any = None
        self._option_ids: list[list[int]] = []
        self._options: tuple[str, ...] = DIGITS if o.scale == "1-9" else ("yes", "no")
        self._usage: dict[str, float] = {"calls": 0.0, "candidates": 0.0, "nan_scores": 0.0}
        self.last_details: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"TransformersVLMReward(model={self.options.model!r}, scale={self.options.scale!r})"

    # ------------------------------------------------------------------ loading

    @classmethod
    def for_scorer(cls, options: VLMLoadOptions, model: str, **extra: Any) -> TransformersVLMReward:
        """The loaded VLM of another in-process scorer (the checklist, the rubric judges): ``model`` and ``extra``,
        loaded as ``options`` say."""
        vlm = cls(cls.Options(model=model, **options.model_dump(include=set(VLMLoadOptions.model_fields)), **extra))
        vlm.load()
        return vlm

    def load(self) -> None:
        if self.model is not None:
            return
        from f2g_torch_utils.compat import ensure_torchvision

        ensure_torchvision()
        from transformers import AutoModelForImageTextToText, AutoProcessor

        o = self.options
        device: Any = resolve_device(o.device, mps=True)  # Any: transformers types `to` for its own arguments
        dtype = resolve_dtype(o.dtype, device)
        common: dict[str, Any] = {
            "revision": o.revision,
            "local_files_only": o.local_files_only,
            "trust_remote_code": o.trust_remote_code,
        }
        try:
            processor = AutoProcessor.from_pretrained(o.model, **common)
            extra = {"attn_implementation": o.attn_implementation} if o.attn_implementation else {}
            model = AutoModelForImageTextToText.from_pretrained(o.model, dtype=dtype, **common, **extra)
        except (OSError, ValueError) as exc:
            raise ComponentError(
                f"transformers-vlm reward: cannot load {o.model!r} ({type(exc).__name__}: {exc}); give a local "
                "folder or a hub id reachable from here (HF_HUB_OFFLINE=1 forbids downloads)"
            ) from exc
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None:
            raise ComponentError(f"transformers-vlm reward: the processor of {o.model!r} has no tokenizer")
        tokenizer.padding_side = "left"  # the answer position is then the last one of every row
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if getattr(processor, "chat_template", None) is None and getattr(tokenizer, "chat_template", None) is None:
            raise ConfigError(f"transformers-vlm reward: {o.model!r} has no chat template; use an instruction model")
        self._option_ids = [option_token_ids(tokenizer, option) for option in self._options]
        self.processor = processor
        self.model = model.to(device).eval()
        log.info("transformers-vlm: loaded %s on %s (%s)", o.model, device, dtype)

    def close(self) -> None:
        self.model = None
        self.processor = None

    def usage(self) -> Mapping[str, float]:
        return dict(self._usage)

    def trace_info(self) -> dict[str, Any]:
        """What produced the scores, for traces and reports: model, template version, scale."""
        return {
            "provider": "transformers",
            "model": self.options.model,
            "template": self.template.fingerprint,
            "scale": self.options.scale,
            "images": self.options.images,
        }

    # ------------------------------------------------------------------ scoring

    def _text(self, prompt: str, frame_count: int) -> str:
        o = self.options
        scoring = build_prompt(self.template, prompt, o.scale, frame_count, o.images)
        images = 1 if o.images == "grid" else frame_count
        content: list[dict[str, Any]] = []
        for k in range(images):
            if o.images == "frames":
                content.append({"type": "text", "text": f"Frame {k + 1} of {frame_count}:"})
            content.append({"type": "image"})
        question = scoring.question if o.system_role else f"{scoring.system}\n\n{scoring.question}"
        content.append({"type": "text", "text": question})
        messages: list[dict[str, Any]] = []
        if o.system_role:
            messages.append({"role": "system", "content": [{"type": "text", "text": scoring.system}]})
        messages.append({"role": "user", "content": content})
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return str(text) + (o.answer_prefix if o.answer_prefix is not None else scoring.answer_prefix)

    def score(self, batch: RewardBatch) -> list[float]:
        """One forward pass per chunk of ``batch_size`` candidates; NaN for non-finite frames (never shown to the
        model) and for non-finite logits."""
        self.load()
        o = self.options
        text = self._text(batch.prompt, len(batch.frame_indices))
        scores: list[float] = [math.nan] * len(batch)
        details: list[dict[str, Any]] = [{"score": math.nan, "skipped": "non-finite frames"} for _ in range(len(batch))]
        finite = [i for i in range(len(batch)) if np.isfinite(batch.frames[i]).all()]
        self._usage["nan_scores"] += len(batch) - len(finite)
        for start in range(0, len(finite), o.batch_size):
            indices = finite[start : start + o.batch_size]
            images = [[batch.grid(i)] if o.images == "grid" else batch.pil_frames(i) for i in indices]
            inputs = self.processor(text=[text] * len(images), images=images, return_tensors="pt", padding=True)
            pooled = option_log_probs(last_log_probs(self.model, model_inputs(inputs, self.model)), self._option_ids)
            self._usage["calls"] += 1
            for index, row in zip(indices, pooled.tolist(), strict=True):
                if not all(math.isfinite(v) for v in row):
                    details[index] = {"score": math.nan}
                    self._usage["nan_scores"] += 1
                    continue
                result = score_from_logits(row, self._options, o.scale)
                scores[index] = result.value
                details[index] = {"score": result.value, "answer": result.answer, "probs": dict(result.probs or {})}
        self._usage["candidates"] += len(batch)
        self.last_details = details
        return scores

    def option_ids(self) -> Sequence[Sequence[int]]:
        """Token ids pooled for each answer option (after ``load()``), for inspection."""
        return self._option_ids
