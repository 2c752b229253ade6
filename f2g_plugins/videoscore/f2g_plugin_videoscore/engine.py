"""A loaded VideoScore: the network, its tokenizer and settings, and the five raw outputs of clips.

Built from a published checkpoint (local folder or hub repo) or as the seeded miniature (``model: tiny``). Shared
by the reward and the eval metric.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from f2g_core.errors import ComponentError
from f2g_plugin_videoscore import tiny
from f2g_plugin_videoscore.model import WHAT, build_config, build_network, read_config
from f2g_plugin_videoscore.preprocess import ImageSettings, frame_pixels, query_text

log = logging.getLogger("f2g.videoscore")

Dimension = Literal["visual_quality", "temporal_consistency", "dynamic_degree", "text_alignment", "factual_consistency"]
DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)
"""The regression head's outputs in order (the reference's five aspects; text_alignment is its
"text-to-video alignment")."""

CHECKPOINT_FILES = ("*.json", "*.safetensors", "tokenizer.model")
"""What a VideoScore model folder needs: configs, weight shards, tokenizer."""


@dataclass
class Settings:
    """What the query text and the preprocessing need besides the network."""

    template: str
    image_seq_len: int
    image: ImageSettings
    source: str


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file of the model folder, or {} when it is absent."""
    return dict(json.loads(path.read_text())) if path.is_file() else {}


class Engine:
    """The network on its device, the tokenizer and :class:`Settings`; :meth:`raw` scores clips."""

    def __init__(
        self,
        network: Any,
        tokenizer: Any,
        settings: Settings,
        device: Any,
        batch_size: int | None,
        frames_per_pass: int,
    ) -> None:
        self.network = network
        self.tokenizer = tokenizer
        self.settings = settings
        self.device = device
        self.batch_size = batch_size
        self.frames_per_pass = frames_per_pass
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ building

    @classmethod
    def tiny(cls, options: Any, device: Any, dtype: Any) -> Engine:
        """The seeded random miniature: same architecture and preprocessing, a word-level tokenizer, no download."""
        from f2g_torch_utils.checkpoints import seeded_state
        from transformers import PreTrainedTokenizerFast

        template = tiny.template_path().read_text()
        core = tiny.build_tokenizer(template)
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<unk>")
        ids = {token: core.token_to_id(token) for token in (*tiny.SPECIAL_TOKENS, *tiny.IMAGE_TOKENS)}
        settings_dict = tiny.config_dict(core.get_vocab_size(), ids)
        config = build_config(settings_dict)
        network = build_network(config, tiny.NUM_LABELS, settings_dict["pad_token_id"], "sdpa")
        network.load_state_dict(seeded_state(network.state_dict(), seed=options.seed))
        settings = Settings(
            template=template,
            image_seq_len=tiny.PERCEIVER["resampler_n_latents"],
            image=ImageSettings.from_config(tiny.IMAGE_PROCESSOR),
            source=f"tiny (seed {options.seed})",
        )
        network = network.to(device=device, dtype=dtype).eval()
        return cls(network, tokenizer, settings, device, options.batch_size, options.frames_per_pass)

    @classmethod
    def published(cls, options: Any, device: Any, dtype: Any) -> Engine:
        """A VideoScore model folder (or hub repo) as the reference's ``from_pretrained`` reads it."""
        from f2g_torch_utils.checkpoints import load_strict, model_folder, read_safetensors_folder
        from transformers import AutoTokenizer

        folder = model_folder(options.model, CHECKPOINT_FILES, what=WHAT, cache_dir=options.cache_dir)
        settings_dict = read_config(folder)
        config = build_config(settings_dict)
        pad_token_id = settings_dict.get("pad_token_id")  # top-level, as the reference's head reads it
        network = build_network(config, int(config.num_labels), pad_token_id, options.attn_implementation)
        state = read_safetensors_folder(folder, what=WHAT)
        load_strict(network, state, what=WHAT, source=str(folder), model="Idefics2 + 5-output regression head")
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder)
            image = ImageSettings.from_config(read_json(folder / "preprocessor_config.json"))
        except (OSError, ValueError) as error:
            raise ComponentError(
                f"{WHAT}: cannot read the tokenizer or preprocessor of {str(folder)!r}: {error}"
            ) from None
        settings = Settings(
            template=tiny.template_path().read_text(),
            image_seq_len=int(read_json(folder / "processor_config.json").get("image_seq_len", 64)),
            image=image,
            source=str(folder),
        )
        network = network.to(device=device, dtype=dtype).eval()
        return cls(network, tokenizer, settings, device, options.batch_size, options.frames_per_pass)

    # ------------------------------------------------------------------ scoring

    def inputs(self, clip: np.ndarray, prompt: str) -> dict[str, Any]:
        """The network's inputs for one clip ((T, H, W, 3) uint8, the frames the reference would sample)."""
        import torch

        s = self.settings
        try:
            text = query_text(s.template, prompt, clip.shape[0], s.image_seq_len)
        except ValueError as error:
            raise ComponentError(f"{WHAT}: {error}") from None
        ids = self.tokenizer(text)["input_ids"]
        return {
            "input_ids": torch.tensor([ids]),
            "pixel_values": torch.from_numpy(frame_pixels(clip, s.image)).unsqueeze(0),
        }

    def raw(self, clips: Sequence[np.ndarray], prompts: Sequence[str]) -> np.ndarray:
        """(n, 5) raw outputs of clips, each with its prompt; clips of one prompt and shape are scored together,
        at most ``batch_size`` per forward pass (they need no padding: their inputs have the same length)."""
        import torch

        out = np.zeros((len(clips), len(DIMENSIONS)))
        groups: dict[tuple[str, tuple[int, ...]], list[int]] = {}
        for index, (clip, prompt) in enumerate(zip(clips, prompts, strict=True)):
            groups.setdefault((prompt, tuple(clip.shape)), []).append(index)
        with self._lock, torch.inference_mode():
            for (prompt, _), members in groups.items():
                step = self.batch_size or len(members)
                for start in range(0, len(members), step):
                    chunk = members[start : start + step]
                    out[chunk] = self._forward([clips[i] for i in chunk], prompt)
        return out

    def _forward(self, clips: Sequence[np.ndarray], prompt: str) -> np.ndarray:
        import torch

        dtype = next(self.network.parameters()).dtype
        inputs = [self.inputs(clip, prompt) for clip in clips]
        ids = torch.cat([x["input_ids"] for x in inputs]).to(self.device)
        pixels = torch.cat([x["pixel_values"] for x in inputs]).to(self.device, dtype)
        scores = self.network(ids, pixels, self.frames_per_pass)
        return scores.float().cpu().numpy().astype(np.float64)
