"""The ``imagereward`` reward: ImageReward v1.0 on each key frame, aggregated over frames.

ImageReward (Xu et al., 2023) is a BLIP model fine-tuned on human preference rankings of text-to-image outputs;
its score is standardised (mean 0, std 1 over its training set) and higher is better. Free²Guide uses it alone and
in an ensemble with GPT-4o (weighted sum, 0.25 on ImageReward). This reward runs our port of the model
(:mod:`f2g_plugin_imagereward.model`), which loads the official checkpoint on current transformers.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from f2g_torch_utils.checkpoints import read_state_dict, resolve_checkpoint
from f2g_torch_utils.devices import resolve_device, resolve_dtype
from f2g_torch_utils.frames import FrameRewardOptions, aggregate_frames, finite_candidates
from pydantic import Field

from f2g_core.errors import ComponentError
from f2g_core.images import to_pil
from f2g_core.interfaces import Reward, RewardBatch

if TYPE_CHECKING:
    import torch

    from f2g_plugin_imagereward.model import ImageRewardModel

HUB_REPO = "THUDM/ImageReward"
CHECKPOINT_FILE = "ImageReward.pt"
ALIASES = {"ImageReward-v1.0": HUB_REPO}
"""Names the reference package accepts for the official model."""


class ImageRewardReward(Reward):
    """ImageReward v1.0 (BLIP fine-tuned on human preferences) of each key frame, aggregated over frames."""

    name = "imagereward"

    class Options(FrameRewardOptions):
        checkpoint: str = Field(
            HUB_REPO,
            description=f"A hub repo holding {CHECKPOINT_FILE} (default: the official one; 'ImageReward-v1.0' names it "
            "too) or a local checkpoint file.",
        )
        med_config: str | None = Field(
            None, description="Local med_config.json of the text encoder; None: the published BLIP config."
        )
        tokenizer: str = Field("bert-base-uncased", description="Hub id or local folder of the BERT tokenizer.")
        vision_heads: int | None = Field(
            None, ge=1, description="Attention heads of the ViT; None: width / 64 (16 for the official ViT-L)."
        )
        cache_dir: str | None = Field(None, description="Hugging Face cache folder for downloads.")

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self._model: ImageRewardModel | None = None
        self._tokenizer: Any = None
        self._device: torch.device | None = None
        self._dtype: torch.dtype | None = None
        self._lock = threading.Lock()
        self._calls = 0
        self._frames = 0

    def checkpoint_path(self) -> str:
        """The local checkpoint file: the configured path, or ``ImageReward.pt`` from the configured hub repo."""
        source = ALIASES.get(self.options.checkpoint, self.options.checkpoint)
        return resolve_checkpoint(source, CHECKPOINT_FILE, what="imagereward", cache_dir=self.options.cache_dir)

    def load(self) -> None:
        from f2g_plugin_imagereward.model import build_model, load_tokenizer, read_med_config

        with self._lock:
            if self._model is not None:
                return

            opts = self.options
            med_config = read_med_config(opts.med_config)
            path = self.checkpoint_path()
            model = build_model(read_state_dict(path, what="imagereward"), med_config, opts.vision_heads, path)
            tokenizer = load_tokenizer(opts.tokenizer, opts.cache_dir)
            vocab = model.blip.text_encoder.config.vocab_size
            if len(tokenizer) > vocab:
                raise ComponentError(
                    f"imagereward: tokenizer {opts.tokenizer!r} has {len(tokenizer)} tokens but the checkpoint's "
                    f"text encoder only {vocab}"
                )
            self._device = resolve_device(opts.device)
            self._dtype = resolve_dtype(opts.dtype)
            model.eval().requires_grad_(False).to(device=self._device, dtype=self._dtype)
            self._tokenizer, self._model = tokenizer, model

    def close(self) -> None:
        self._model = None

    def frame_scores(self, batch: RewardBatch) -> np.ndarray:
        """(N, F) ImageReward scores of every key frame, in one forward; NaN rows for non-finite candidates."""
        from f2g_plugin_imagereward.model import score_images

        self.load()
        assert self._model is not None and self._device is not None and self._dtype is not None
        n, f = batch.frames.shape[:2]
        ok = finite_candidates(batch.frames)
        out = np.full((n, f), np.nan)
        if ok.any():
            images = [to_pil(frame) for frame in batch.frames[ok].reshape(-1, *batch.frames.shape[2:])]
            scores = score_images(
                self._model,
                self._tokenizer,
                batch.prompt,
                images,
                device=self._device,
                dtype=self._dtype,
                batch_size=self.options.batch_size,
            )
            out[ok] = np.asarray(scores, dtype=np.float64).reshape(-1, f)
            self._calls += 1
            self._frames += len(images)
        return out

    def score(self, batch: RewardBatch) -> list[float]:
        return [float(s) for s in aggregate_frames(self.frame_scores(batch), self.options.aggregate)]

    def usage(self) -> dict[str, float]:
        return {"calls": float(self._calls), "frames": float(self._frames)}
