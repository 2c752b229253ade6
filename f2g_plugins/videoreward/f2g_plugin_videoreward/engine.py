"""A loaded VideoReward: the network, its tokenizer and settings, and the raw VQ / MQ / TA of clips.

Built from a published checkpoint (local folder or hub repo, with its Qwen2-VL base) or as the seeded miniature
(``model: tiny``). Shared by the reward and the eval metric.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from f2g_core.errors import ComponentError
from f2g_plugin_videoreward import tiny
from f2g_plugin_videoreward.model import WHAT, build_network, checkpoint_state, find_checkpoint, read_model_config
from f2g_plugin_videoreward.preprocess import PixelLayout, chat_text, video_pixels

log = logging.getLogger("f2g.videoreward")

DIMENSIONS = ("VQ", "MQ", "TA")
"""The reward head's outputs in order: visual quality, motion quality, text alignment."""

PUBLISHED_NORMALISATION = {"VQ": (3.6757, 2.2476), "MQ": (1.1646, 1.3811), "TA": (2.8105, 2.5121)}
"""(mean, std) per dimension from the published checkpoint's ``inference_config`` (used by ``model: tiny``)."""

CHECKPOINT_FILES = (
    "model_config.json",
    "checkpoint-*/model.pth",
    "checkpoint-*/adapter_model.safetensors",
    "checkpoint-*/non_lora_state_dict.pth",
    "checkpoint-*/tokenizer/*",
)
BASE_FILES = ("*.json", "*.txt", "*.jinja", "*.model")
"""Files of the Qwen2-VL base that the full layout needs (config, tokenizer); the LoRA layout adds its weights."""


@dataclass
class Settings:
    """What the reward prompt and the preprocessing need besides the network."""

    template: str
    sample_fps: float
    max_pixels: int
    layout: PixelLayout
    normalisation: dict[str, tuple[float, float]]
    source: str


def pixel_layout(folder: Path, vision: Any) -> PixelLayout:
    """Patch geometry from the vision config; normalisation from the base's ``preprocessor_config.json``."""
    import json

    settings: dict[str, Any] = {}
    path = folder / "preprocessor_config.json"
    if path.is_file():
        settings = json.loads(path.read_text())
    return PixelLayout(
        patch_size=int(vision.patch_size),
        temporal_patch_size=int(vision.temporal_patch_size),
        merge_size=int(vision.spatial_merge_size),
        mean=tuple(settings.get("image_mean", PixelLayout.mean)),
        std=tuple(settings.get("image_std", PixelLayout.std)),
    )


def processor_chat_template(folder: Path) -> str:
    """The chat template a model folder keeps for its processor (``chat_template.json`` or ``.jinja``)."""
    import json

    if (folder / "chat_template.json").is_file():
        return str(json.loads((folder / "chat_template.json").read_text())["chat_template"])
    if (folder / "chat_template.jinja").is_file():
        return (folder / "chat_template.jinja").read_text()
    raise ComponentError(f"{WHAT}: {str(folder)!r} has no chat template; give the Qwen2-VL-Instruct base model")


def add_reward_tokens(tokenizer: Any) -> list[int]:
    """The reward tokens' ids, added as special tokens when missing (as the reference does at load)."""
    missing = [t for t in tiny.REWARD_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": list(tiny.REWARD_TOKENS)})
    ids = [int(tokenizer.convert_tokens_to_ids(t)) for t in tiny.REWARD_TOKENS]
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = "<|endoftext|>"
    return ids


class Engine:
    """The network on its device, the tokenizer and :class:`Settings`; :meth:`raw` scores clips."""

    def __init__(self, network: Any, tokenizer: Any, settings: Settings, device: Any, batch_size: int | None) -> None:
        self.network = network
        self.tokenizer = tokenizer
        self.settings = settings
        self.device = device
        self.batch_size = batch_size
        self.reward_ids = add_reward_tokens(tokenizer)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ building

    @classmethod
    def tiny(cls, options: Any, device: Any, dtype: Any) -> Engine:
        """The seeded random miniature: same architecture and preprocessing, a word-level tokenizer, no download."""
        from f2g_torch_utils.checkpoints import seeded_state
        from transformers import PreTrainedTokenizerFast, Qwen2VLConfig

        template = tiny.template_path().read_text()
        core = tiny.build_tokenizer(template)
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=core, unk_token="<unk>", pad_token="<|endoftext|>", eos_token="<|im_end|>"
        )
        tokenizer.chat_template = tiny.CHAT_TEMPLATE
        add_reward_tokens(tokenizer)
        vocab = tokenizer.get_vocab()
        ids = {token: vocab[token] for token in tiny.SPECIAL_TOKENS}
        config = Qwen2VLConfig(**tiny.config_dict(len(tokenizer), ids))
        network = build_network(config, output_dim=1, attn_implementation="sdpa")
        network.load_state_dict(seeded_state(network.state_dict(), seed=options.seed))
        settings = Settings(
            template=template,
            sample_fps=2.0,
            max_pixels=200704,
            layout=pixel_layout(Path("."), config.vision_config),
            normalisation=dict(PUBLISHED_NORMALISATION),
            source=f"tiny (seed {options.seed})",
        )
        return cls(network.to(device=device, dtype=dtype).eval(), tokenizer, settings, device, options.batch_size)

    @classmethod
    def published(cls, options: Any, device: Any, dtype: Any) -> Engine:
        """A reference checkpoint folder (or hub repo) on its Qwen2-VL base, LoRA merged."""
        from f2g_torch_utils.checkpoints import load_strict, model_folder
        from transformers import AutoConfig, AutoTokenizer

        folder = model_folder(options.model, CHECKPOINT_FILES, what=WHAT, cache_dir=options.cache_dir)
        config_json = read_model_config(folder)
        data, model, peft = config_json["data_config"], config_json["model_config"], config_json["peft_lora_config"]
        unsupported = {
            "reward_token": (model.get("reward_token"), "special"),
            "use_special_tokens": (model.get("use_special_tokens"), True),
            "prompt_template_type": (data.get("prompt_template_type"), "detailed_special"),
            "eval_dim": (data.get("eval_dim"), list(DIMENSIONS)),
            "sample_type": (data.get("sample_type", "uniform"), "uniform"),
            "num_frames": (data.get("num_frames"), None),
        }
        for key, (value, expected) in unsupported.items():
            if value != expected:
                raise ComponentError(f"{WHAT}: {key}={value!r} in model_config.json is not supported ({expected!r})")
        checkpoint = find_checkpoint(folder, options.checkpoint_step)
        lora_layout = not (checkpoint / "model.pth").is_file()
        base_source = options.base_model or model["model_name_or_path"]
        base_patterns = (*BASE_FILES, "*.safetensors") if lora_layout else BASE_FILES
        base = model_folder(base_source, base_patterns, what=WHAT, cache_dir=options.cache_dir)
        config = AutoConfig.from_pretrained(base)
        tokenizer_dir = checkpoint / "tokenizer" if (checkpoint / "tokenizer").is_dir() else base
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        if getattr(tokenizer, "chat_template", None) is None:
            tokenizer.chat_template = processor_chat_template(base)
        add_reward_tokens(tokenizer)
        state = checkpoint_state(checkpoint, base if lora_layout else None, peft)
        embeddings = state.get("language_model.embed_tokens.weight")
        if embeddings is None or embeddings.shape[0] != len(tokenizer):
            rows = None if embeddings is None else embeddings.shape[0]
            raise ComponentError(
                f"{WHAT}: the checkpoint's token embeddings ({rows} rows) do not fit the tokenizer of "
                f"{str(tokenizer_dir)!r} ({len(tokenizer)} tokens with the reward tokens): wrong base_model?"
            )
        config.text_config.vocab_size = int(embeddings.shape[0])
        network = build_network(config, int(model.get("output_dim", 1)), options.attn_implementation)
        load_strict(network, state, what=WHAT, source=str(checkpoint), model="Qwen2-VL + reward head")
        inference = config_json.get("inference_config") or {}
        normalisation = {
            d: (float(inference[f"{d}_mean"]), float(inference[f"{d}_std"]))
            for d in DIMENSIONS
            if f"{d}_mean" in inference and f"{d}_std" in inference
        }
        settings = Settings(
            template=tiny.template_path().read_text(),
            sample_fps=float(data.get("fps", 2.0)),
            max_pixels=int(options.max_pixels or data.get("max_frame_pixels", 200704)),
            layout=pixel_layout(base, config.vision_config),
            normalisation=normalisation,
            source=str(checkpoint),
        )
        return cls(network.to(device=device, dtype=dtype).eval(), tokenizer, settings, device, options.batch_size)

    # ------------------------------------------------------------------ scoring

    def raw(self, clips: Sequence[np.ndarray], prompts: Sequence[str]) -> np.ndarray:
        """(n, 3) raw VQ, MQ, TA of clips (each (T, H, W, 3) uint8, the frames the reference would sample), each
        with its prompt; at most ``batch_size`` clips per forward pass (padded on the right, as the reference)."""
        import torch

        step = self.batch_size or max(len(clips), 1)
        out = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(clips), step):
                out.append(self._forward(clips[start : start + step], prompts[start : start + step]))
        return np.concatenate(out) if out else np.zeros((0, len(DIMENSIONS)))

    def inputs(self, clips: Sequence[np.ndarray], prompts: Sequence[str]) -> dict[str, Any]:
        """The network's inputs for clips and their prompts: token ids, attention mask, pixel patches, grids."""
        import torch

        s = self.settings
        pixels, grids, texts = [], [], []
        for clip, prompt in zip(clips, prompts, strict=True):
            values, grid = video_pixels(clip, s.max_pixels, s.layout)
            pixels.append(values)
            grids.append(grid)
            tokens = grid[0] * grid[1] * grid[2] // s.layout.merge_size**2
            texts.append(chat_text(self.tokenizer, s.template, prompt, tokens))
        encoded = self.tokenizer(texts, padding=True, return_tensors="pt")
        for token in self.reward_ids:
            if not bool(((encoded["input_ids"] == token).sum(dim=1) == 1).all()):
                raise ComponentError(f"{WHAT}: each reward token must occur once in the prompt; remove them from it")
        return {
            "input_ids": encoded["input_ids"],
            "attention_mask": encoded["attention_mask"],
            "pixel_values": torch.cat(pixels),
            "grid_thw": torch.tensor(grids),
        }

    def _forward(self, clips: Sequence[np.ndarray], prompts: Sequence[str]) -> np.ndarray:
        dtype = next(self.network.parameters()).dtype
        inputs = self.inputs(clips, prompts)
        scores = self.network(
            inputs["input_ids"].to(self.device),
            inputs["attention_mask"].to(self.device),
            inputs["pixel_values"].to(self.device, dtype),
            inputs["grid_thw"].to(self.device),
            self.reward_ids,
        )
        return scores.float().cpu().numpy().astype(np.float64)

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        """(raw − mean) / std per dimension with the checkpoint's published statistics."""
        if set(self.settings.normalisation) != set(DIMENSIONS):
            raise ComponentError(f"{WHAT}: {self.settings.source} has no inference_config statistics to normalise")
        mean = np.array([self.settings.normalisation[d][0] for d in DIMENSIONS])
        std = np.array([self.settings.normalisation[d][1] for d in DIMENSIONS])
        return (raw - mean) / std
