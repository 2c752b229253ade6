"""The ``viclip`` reward: ViCLIP's text–video similarity of each candidate's key frames taken as one clip.

Unlike the image rewards, ViCLIP sees the frames *together* (a temporal model), so motion and temporal
consistency can count. It was trained on 8-frame clips: configure the guidance to decode 8 key frames (e.g.
``guidance.key_frames: [0, 2, 4, 6, 9, 11, 13, 15]`` for 16-frame videos); with another number of key frames the
reward spreads 8 indices over the ones it gets (repeating frames when fewer) and warns once.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from f2g_torch_utils.checkpoints import read_state_dict, resolve_checkpoint
from f2g_torch_utils.devices import resolve_device, resolve_dtype
from f2g_torch_utils.frames import TorchRewardOptions, finite_candidates
from pydantic import Field

from f2g_core.interfaces import Reward, RewardBatch

if TYPE_CHECKING:
    import torch

    from f2g_plugin_viclip.model import ViCLIPModel

logger = logging.getLogger(__name__)

HUB_REPO = "OpenGVLab/ViCLIP"
CHECKPOINT_FILE = "ViClip-InternVid-10M-FLT.pth"


class ViCLIPReward(Reward):
    """ViCLIP (InternVid) similarity between the prompt and the key frames as one video clip."""

    name = "viclip"

    class Options(TorchRewardOptions):
        checkpoint: str = Field(
            HUB_REPO,
            description=f"A hub repo holding {CHECKPOINT_FILE} (default: the official one) or a local checkpoint file.",
        )
        preprocess: Literal["vbench", "internvid"] = Field(
            "vbench", description="vbench: VBench's pipeline (CLIP stats, crop); internvid: the InternVid demo's."
        )
        scale: float = Field(
            1.0, description="Multiplier of the cosine (VBench reports the cosine; the demo uses 100)."
        )
        cache_dir: str | None = Field(None, description="Hugging Face cache folder for downloads.")

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self._model: ViCLIPModel | None = None
        self._tokenizer: Any = None
        self._device: torch.device | None = None
        self._dtype: torch.dtype | None = None
        self._lock = threading.Lock()
        self._text: dict[str, torch.Tensor] = {}
        self._warned = False
        self._calls = 0
        self._clips = 0

    def checkpoint_path(self) -> str:
        """The local checkpoint file: the configured path, or the published file from the configured hub repo."""
        return resolve_checkpoint(
            self.options.checkpoint, CHECKPOINT_FILE, what="viclip", cache_dir=self.options.cache_dir
        )

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return

            from f2g_torch_utils.compat import ensure_torchvision

            from f2g_plugin_viclip.model import build_model

            path = self.checkpoint_path()
            model = build_model(read_state_dict(path, what="viclip"), path)
            ensure_torchvision()
            from open_clip.tokenizer import SimpleTokenizer  # ViCLIP's tokenizer is OpenAI CLIP's BPE

            self._tokenizer = SimpleTokenizer(context_length=model.text_encoder.config.context_length)
            self._device = resolve_device(self.options.device)
            self._dtype = resolve_dtype(self.options.dtype)
            model.eval().requires_grad_(False).to(device=self._device, dtype=self._dtype)
            self._model = model

    def close(self) -> None:
        self._model = None
        self._text.clear()

    def text_embedding(self, prompt: str) -> torch.Tensor:
        """Normalised prompt embedding, computed once per prompt."""
        import torch

        with self._lock:
            cached = self._text.get(prompt)
        if cached is not None:
            return cached
        assert self._model is not None
        tokens = self._tokenizer([prompt]).to(self._device)
        with torch.inference_mode():
            embedding = torch.nn.functional.normalize(self._model.text_encoder(tokens).float(), dim=-1)[0]
        with self._lock:
            self._text[prompt] = embedding
        return embedding

    def clips(self, batch: RewardBatch, candidates: np.ndarray) -> torch.Tensor:
        """(n, 3, T, S, S) inputs of the given candidates, frames resampled to the model's T when needed."""
        import torch

        from f2g_plugin_viclip.preprocess import select_frames, video_tensor

        assert self._model is not None
        config = self._model.vision_encoder.config
        available = batch.frames.shape[1]
        if available != config.num_frames and not self._warned:
            logger.warning(
                "viclip: got %d key frames per candidate but the model takes %d; resampling (set guidance key "
                "frames to %d for faithful scores)",
                available,
                config.num_frames,
                config.num_frames,
            )
            self._warned = True
        chosen = select_frames(available, config.num_frames)
        mode = self.options.preprocess
        return torch.stack([video_tensor(batch.frames[i][chosen], config.image_size, mode) for i in candidates])

    def score(self, batch: RewardBatch) -> list[float]:
        import torch

        self.load()
        assert self._model is not None
        n = len(batch)
        ok = np.flatnonzero(finite_candidates(batch.frames))
        out = np.full(n, np.nan)
        if len(ok):
            videos = self.clips(batch, ok)
            text = self.text_embedding(batch.prompt)
            step = self.options.batch_size or len(ok)
            sims = []
            with torch.inference_mode():
                for start in range(0, len(ok), step):
                    chunk = videos[start : start + step].to(device=self._device, dtype=self._dtype)
                    features = torch.nn.functional.normalize(self._model.vision_encoder(chunk).float(), dim=-1)
                    sims.append(features @ text)
            out[ok] = self.options.scale * torch.cat(sims).double().cpu().numpy()
            self._calls += 1
            self._clips += len(ok)
        return [float(s) for s in out]

    def usage(self) -> dict[str, float]:
        return {"calls": float(self._calls), "clips": float(self._clips)}
