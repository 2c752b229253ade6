"""The ``clip`` reward: prompt–frame similarity of any open_clip model, aggregated over the key frames.

Free²Guide scores each key frame with CLIP and combines the frames (the official code sums
``logits_per_image``, i.e. ``100 · cos``). We keep the same per-frame quantity, ``scale · cos(text, frame)`` with
``scale`` the model's learned logit scale by default (100 for OpenAI CLIP), and average over frames by default so
the score does not grow with the number of key frames.

The heavy work (open_clip, weights) happens in :meth:`ClipReward.load`; importing this module imports neither.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from f2g_torch_utils.checkpoints import load_strict, read_state_dict
from f2g_torch_utils.devices import resolve_device, resolve_dtype
from f2g_torch_utils.frames import FrameRewardOptions, aggregate_frames, finite_candidates
from pydantic import Field

from f2g_core.errors import ComponentError
from f2g_core.images import to_pil
from f2g_core.interfaces import Reward, RewardBatch
from f2g_plugin_clip.common import LRUCache, looks_like_path

if TYPE_CHECKING:
    import torch
    from PIL import Image


@dataclass
class ClipComponents:
    """What a CLIP-family reward needs: a model with ``encode_image`` / ``encode_text``, its image preprocessing
    (PIL image -> (3, S, S) tensor) and its tokenizer (list of prompts -> token tensor).

    Building these is the only thing that differs between ``clip``, ``hps`` and user-supplied models, so it is the
    one seam subclasses override (:meth:`ClipReward.build`); tests use it to plug in models whose ranking is known.
    """

    model: Any
    preprocess: Callable[[Image.Image], torch.Tensor]
    tokenizer: Callable[[list[str]], torch.Tensor]
    default_scale: float = 1.0


class ClipReward(Reward):
    """CLIP similarity between the prompt and each key frame (open_clip; any architecture and checkpoint)."""

    name = "clip"

    class Options(FrameRewardOptions):
        model: str = Field(
            "ViT-B-32",
            description="open_clip architecture (e.g. ViT-B-32, ViT-L-14, ViT-H-14) or an 'hf-hub:org/repo' id.",
        )
        pretrained: str | None = Field(
            "openai",
            description="open_clip pretrained tag (openai, laion2b_s34b_b79k, …) or a path to a local checkpoint "
            "file (.pt/.pth/.bin/.safetensors); ignored for 'hf-hub:' models (their repo has the weights) unless a "
            "path; None: random weights.",
        )
        scale: float | None = Field(
            None,
            description="Multiplier of the cosine similarity. None: the model's learned logit scale (100 for "
            "OpenAI CLIP, matching the paper's CLIP score).",
        )
        cache_dir: str | None = Field(None, description="Where open_clip caches downloaded weights.")

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self._parts: ClipComponents | None = None
        self._device: torch.device | None = None
        self._dtype: torch.dtype | None = None
        self._scale = 1.0
        self._load_lock = threading.Lock()
        self._text = LRUCache[str, "torch.Tensor"](64)
        self._calls = 0
        self._frames = 0

    # ------------------------------------------------------------------------------------------------ loading

    def build(self) -> ClipComponents:
        """Create the model, preprocessing and tokenizer from the options (weights on CPU, float32)."""
        from f2g_torch_utils.compat import ensure_torchvision

        ensure_torchvision()
        import open_clip

        opts = self.options
        _check_architecture(opts.model)
        pretrained = opts.pretrained
        checkpoint = pretrained if pretrained and looks_like_path(pretrained) else None
        hub_model = opts.model.startswith("hf-hub:")
        tag = None if checkpoint or hub_model else pretrained  # an hf-hub repo carries its own weights
        if tag:
            tags = open_clip.list_pretrained_tags_by_model(opts.model)
            if tag not in tags:
                raise ComponentError(
                    f"clip: open_clip has no pretrained tag {tag!r} for {opts.model!r}; known tags: "
                    f"{', '.join(tags) or 'none'} (or give a checkpoint file path)"
                )
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                opts.model, pretrained=tag, cache_dir=opts.cache_dir
            )
        except Exception as error:  # download failures, bad hub ids
            raise ComponentError(f"clip: cannot create open_clip model {opts.model!r} ({tag=}): {error}") from error
        if checkpoint:
            load_strict(model, read_state_dict(checkpoint, what="clip"), what="clip", source=checkpoint)
        tokenizer = open_clip.get_tokenizer(opts.model, cache_dir=opts.cache_dir)
        return ClipComponents(model, preprocess, tokenizer, default_scale=_logit_scale(model))

    def load(self) -> None:
        """Build once (idempotent, thread-safe), then move to the configured device and dtype in eval mode."""
        with self._load_lock:
            if self._parts is not None:
                return
            parts = self.build()
            self._device = resolve_device(self.options.device)
            self._dtype = resolve_dtype(self.options.dtype)
            parts.model.eval().requires_grad_(False).to(device=self._device, dtype=self._dtype)
            scale = self.options.scale
            self._scale = float(parts.default_scale if scale is None else scale)
            self._parts = parts

    def close(self) -> None:
        self._parts = None
        self._text.clear()

    # ------------------------------------------------------------------------------------------------ scoring

    def text_embedding(self, prompt: str) -> torch.Tensor:
        """The normalised text embedding (D,), computed once per prompt: guidance scores many batches per prompt."""
        import torch

        def make() -> torch.Tensor:
            assert self._parts is not None
            tokens = self._parts.tokenizer([prompt]).to(self._device)
            with torch.inference_mode():
                text = self._parts.model.encode_text(tokens).float()
            return torch.nn.functional.normalize(text, dim=-1)[0]

        return self._text.get(prompt, make)

    def image_embeddings(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Normalised embeddings (B, D) of all images, in one forward pass unless ``batch_size`` splits it."""
        import torch

        assert self._parts is not None
        pixels = torch.stack([self._parts.preprocess(image) for image in images])
        step = self.options.batch_size or len(images)
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), step):
                chunk = pixels[start : start + step].to(device=self._device, dtype=self._dtype)
                out.append(self._parts.model.encode_image(chunk).float())
        return torch.nn.functional.normalize(torch.cat(out), dim=-1)

    def frame_scores(self, batch: RewardBatch) -> np.ndarray:
        """(N, F) per-frame scores ``scale · cos``; candidates with non-finite frames are NaN."""
        self.load()
        n, f = batch.frames.shape[:2]
        ok = finite_candidates(batch.frames)
        scores = np.full((n, f), np.nan, dtype=np.float64)
        if not ok.any():
            return scores
        images = [to_pil(frame) for frame in batch.frames[ok].reshape(-1, *batch.frames.shape[2:])]
        sims = self.image_embeddings(images) @ self.text_embedding(batch.prompt)
        scores[ok] = (self._scale * sims.double().cpu().numpy()).reshape(-1, f)
        self._calls += 1
        self._frames += len(images)
        return scores

    def score(self, batch: RewardBatch) -> list[float]:
        return [float(s) for s in aggregate_frames(self.frame_scores(batch), self.options.aggregate)]

    def usage(self) -> dict[str, float]:
        return {
            "calls": float(self._calls),
            "frames": float(self._frames),
            "text_cache_hits": float(self._text.hits),
        }


def _logit_scale(model: Any) -> float:
    """The model's learned temperature ``exp(logit_scale)`` (100 for OpenAI CLIP); 1 when it has none."""
    value = getattr(model, "logit_scale", None)
    return float(value.detach().exp().item()) if value is not None else 1.0


def _check_architecture(name: str) -> None:
    """Fail early, with close matches, on an architecture open_clip does not know (hf-hub ids are checked later)."""
    import open_clip

    if name.startswith("hf-hub:") or name in open_clip.list_models():
        return
    close = difflib.get_close_matches(name, open_clip.list_models(), n=5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ComponentError(f"clip: unknown open_clip architecture {name!r}{hint}")
