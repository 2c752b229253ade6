"""Backbone ``shapes``: the tiny latent text-to-video model, driven step by step by f2g's sampler."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from f2g_core.interfaces import Backbone, Level, Schedule
from pydantic import Field

from f2g_plugin_shapes.grammar import PromptError as PromptError
from f2g_plugin_shapes.grammar import normalise, parse_prompt
from f2g_plugin_shapes.model_io import MODEL_FILE, WEIGHTS_DIR
from f2g_plugin_shapes.world import FPS, NUM_FRAMES

if TYPE_CHECKING:
    import torch

    from f2g_plugin_shapes.nets import VideoModel


@dataclass(frozen=True)
class ShapesCondition:
    """Encoded prompt: text features for the conditional and unconditional branch and the CFG scale."""

    text: torch.Tensor
    pad: torch.Tensor
    cfg_scale: float
    prompt: str
    per_row: bool = False
    """False: ``text`` is (2, L, D), conditional and unconditional for every row. True (stacked for several
    prompts): (2n, L, D), the n rows' conditional features then their unconditional ones."""


class ShapesBackbone(Backbone):
    """Tiny latent text-to-video model of moving shapes (16 frames, 32×32), trained on CPU; x0-prediction DDIM."""

    name: ClassVar[str] = "shapes"

    class Options(Backbone.Options):
        weights: str | None = Field(None, description="Path to a safetensors file; default: the shipped weights.")
        cfg_scale: float = Field(4.0, ge=0.0, le=30.0, description="Default classifier-free guidance scale.")
        threads: int | None = Field(None, ge=1, le=256, description="torch CPU threads (None: leave as is).")
        schedule_shift: float | None = Field(
            None,
            ge=1.0,
            le=20.0,
            description="SNR shift of the sampling schedule; None: the one the model was trained with.",
        )

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self._model: VideoModel | None = None
        self._trained_shift = 1.0

    # ------------------------------------------------------------------ loading
    def load(self) -> None:
        if self._model is not None:
            return
        import torch

        from f2g_plugin_shapes.model_io import load_state, read_metadata
        from f2g_plugin_shapes.nets import ModelConfig, VideoModel

        if self.options.threads is not None:
            torch.set_num_threads(self.options.threads)
        path = Path(self.options.weights) if self.options.weights else WEIGHTS_DIR / MODEL_FILE
        if not path.is_file():
            raise FileNotFoundError(f"shapes backbone weights not found: {path}")
        meta = read_metadata(path)
        cfg = ModelConfig(**meta["config"])
        self._trained_shift = float(meta.get("info", {}).get("schedule_shift", 1.0))
        model = VideoModel(cfg)
        load_state(model, path)
        self._model = model

    @property
    def model(self) -> VideoModel:
        if self._model is None:
            self.load()
        assert self._model is not None
        return self._model

    def close(self) -> None:
        self._model = None

    # ------------------------------------------------------------------ geometry
    @property
    def num_frames(self) -> int:
        return NUM_FRAMES

    @property
    def fps(self) -> float:
        return FPS

    def latent_shape(self) -> tuple[int, ...]:
        cfg = self.model.cfg
        return (cfg.frames, cfg.latent_channels, cfg.latent_size, cfg.latent_size)

    def schedule(self, num_steps: int) -> Schedule:
        """Evenly spaced continuous times from 1 (noise) to 0 on the cosine schedule the model was trained on."""
        from f2g_plugin_shapes.nets import alpha_bar, shifted_time

        if num_steps < 1:
            raise ValueError("num_steps must be >= 1")
        shift = self.options.schedule_shift or self._trained_shift
        times = [float(shifted_time(1.0 - i / num_steps, shift)) for i in range(num_steps)]
        abar = [float(alpha_bar(t)) for t in times]
        alphas = (*tuple(a**0.5 for a in abar), 1.0)
        sigmas = (*tuple((1.0 - a) ** 0.5 for a in abar), 0.0)
        return Schedule(timesteps=tuple(times), alphas=alphas, sigmas=sigmas)

    # ------------------------------------------------------------------ model calls
    def encode_prompt(self, prompt: str, negative_prompt: str | None, cfg_scale: float | None) -> ShapesCondition:
        """Parse (clear error on words outside the grammar), canonicalise, encode prompt and negative prompt."""
        import torch

        from f2g_plugin_shapes.nets import tokenize

        canonical = parse_prompt(prompt).text()
        negative = ""
        if negative_prompt:
            from f2g_plugin_shapes.grammar import VOCABULARY

            unknown = [w for w in normalise(negative_prompt) if w not in VOCABULARY]
            if unknown:
                raise PromptError(f"negative prompt words outside the shapes vocabulary: {unknown}")
            negative = " ".join(normalise(negative_prompt))
        ids, pad = tokenize([canonical, negative])
        with torch.inference_mode():
            text = self.model.text(ids, pad)
        scale = float(self.options.cfg_scale if cfg_scale is None else cfg_scale)
        return ShapesCondition(text=text, pad=pad, cfg_scale=scale, prompt=canonical)

    batched_conditioning = True

    def stack_conditioning(self, conds: Sequence[ShapesCondition]) -> ShapesCondition:
        """Rows of several prompts in one batch (token features have a fixed length, so they stack)."""
        import torch

        if len({c.cfg_scale for c in conds}) != 1:
            raise ValueError("stacked shapes conditionings must share one cfg_scale")
        rows = [c for c in conds if not c.per_row]
        text = torch.cat([*(c.text[:1] for c in rows), *(c.text[1:2] for c in rows)])
        pad = torch.cat([*(c.pad[:1] for c in rows), *(c.pad[1:2] for c in rows)])
        return ShapesCondition(text, pad, conds[0].cfg_scale, "; ".join(c.prompt for c in rows), per_row=True)

    def denoise(self, latents: torch.Tensor, level: Level, cond: ShapesCondition) -> torch.Tensor:
        """x̂0 for a batch of latents; conditional and unconditional branches run as one batch."""
        import torch

        n = latents.shape[0]
        t = torch.full((n,), float(level.timestep))
        if cond.per_row:
            positive, negative = (cond.text[:n], cond.pad[:n]), (cond.text[n:], cond.pad[n:])
        else:
            positive = (cond.text[:1].expand(n, -1, -1), cond.pad[:1].expand(n, -1))
            negative = (cond.text[1:].expand(n, -1, -1), cond.pad[1:].expand(n, -1))
        with torch.inference_mode():
            if cond.cfg_scale == 1.0:
                return self.model.denoiser(latents, t, *positive)
            text = torch.cat([positive[0], negative[0]])
            pad = torch.cat([positive[1], negative[1]])
            out = self.model.denoiser(torch.cat([latents, latents]), torch.cat([t, t]), text, pad)
            conditional, unconditional = out[:n], out[n:]
            return unconditional + cond.cfg_scale * (conditional - unconditional)

    def decode(self, x0: torch.Tensor, frame_indices: Sequence[int]) -> np.ndarray:
        """Decode only ``frame_indices`` with the per-frame decoder: (N, F', 32, 32, 3) float32 in [0, 1]."""
        import torch

        indices = list(frame_indices)
        with torch.inference_mode():
            latents = x0[:, indices]
            n, f = latents.shape[:2]
            images = self.model.autoencoder.decode(latents.reshape(n * f, *latents.shape[2:]))
            images = images.clamp(0, 1).reshape(n, f, 3, images.shape[-2], images.shape[-1])
            return images.permute(0, 1, 3, 4, 2).contiguous().float().numpy()
