"""The ImageReward model (BLIP + MLP head + normalisation), its preprocessing, and building it from a checkpoint.

``ImageRewardModel`` holds exactly the parameters of the reference ``ImageReward`` module that scoring uses, under
the same names, so ``ImageReward.pt`` (and any fine-tune in that layout) loads as is. The vision encoder's size is
read from the checkpoint's tensor shapes; the text encoder's from ``med_config.json`` (the published BLIP config
is built in).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from f2g_torch_utils.checkpoints import load_strict
from PIL import Image
from torch import nn

from f2g_core.errors import ComponentError
from f2g_plugin_imagereward.blip import BlipCore, TextConfig, VisionConfig

MEAN = 0.16717362830052426
"""Mean of the raw MLP output over ImageReward's training set; scores are standardised with it and :data:`STD`."""
STD = 1.0333394966054072
MAX_TOKENS = 35
"""ImageReward truncates / pads every prompt to 35 tokens."""
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

IGNORED_KEYS = re.compile(r"^blip\.(vision_proj|text_proj)\.|\.position_ids$")
"""Keys of the official checkpoint that scoring never reads (contrastive projections, a position-id buffer)."""


class MLPHead(nn.Module):
    """ImageReward's reward head: five linear layers (no activations, dropout in between — inactive at eval)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(width, 1024),
            nn.Dropout(0.2),
            nn.Linear(1024, 128),
            nn.Dropout(0.2),
            nn.Linear(128, 64),
            nn.Dropout(0.1),
            nn.Linear(64, 16),
            nn.Linear(16, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ImageRewardModel(nn.Module):
    """BLIP image–text encoder + MLP head; ``forward`` maps (pixels, prompt tokens) to standardised rewards."""

    def __init__(self, vision: VisionConfig, text: TextConfig) -> None:
        super().__init__()
        self.blip = BlipCore(vision, text)
        self.mlp = MLPHead(text.hidden_size)
        self.mean, self.std = MEAN, STD

    @property
    def image_size(self) -> int:
        return self.blip.visual_encoder.config.image_size

    def forward(self, pixels: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Rewards (B,) of B images against one prompt (``input_ids`` (1, L)) or one prompt each ((B, L))."""
        image = self.blip.visual_encoder(pixels)
        if input_ids.shape[0] != pixels.shape[0]:
            input_ids = input_ids.expand(pixels.shape[0], -1)
            attention_mask = attention_mask.expand(pixels.shape[0], -1)
        hidden = self.blip.text_encoder(input_ids, attention_mask, image)
        raw = self.mlp(hidden[:, 0, :]).float()[:, 0]
        return (raw - self.mean) / self.std


# ------------------------------------------------------------------------------------------------ preprocessing


def preprocess(image: Image.Image, size: int) -> torch.Tensor:
    """ImageReward's transform: bicubic resize of the short side, centre crop, RGB, [0, 1], CLIP normalisation."""
    from f2g_torch_utils.compat import ensure_torchvision

    ensure_torchvision()
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    image = F.center_crop(F.resize(image, size, interpolation=InterpolationMode.BICUBIC), [size, size])
    return F.normalize(F.to_tensor(image.convert("RGB")), list(CLIP_MEAN), list(CLIP_STD))


def load_tokenizer(source: str, cache_dir: str | None = None) -> Any:
    """BERT's uncased WordPiece tokenizer plus BLIP's two extra tokens ``[DEC]`` (bos) and ``[ENC]`` (ids 30522-3)."""
    from f2g_torch_utils.compat import ensure_torchvision

    ensure_torchvision()
    from transformers import BertTokenizer

    try:
        tokenizer = BertTokenizer.from_pretrained(source, cache_dir=cache_dir)
    except Exception as error:  # offline, missing folder
        raise ComponentError(f"imagereward: cannot load the BERT tokenizer {source!r}: {error}") from error
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    tokenizer.add_tokens(["[ENC]"], special_tokens=True)
    return tokenizer


def tokenize(tokenizer: Any, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
    out = tokenizer(prompt, padding="max_length", truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
    return out["input_ids"], out["attention_mask"]


# ------------------------------------------------------------------------------------------------------ loading


def read_med_config(path: str | None) -> dict[str, Any]:
    """The text encoder's ``med_config.json``; ``None`` gives the published BLIP/ImageReward one."""
    if path is None:
        return {}
    file = Path(path).expanduser()
    if not file.is_file():
        raise ComponentError(f"imagereward: med_config file {str(file)!r} does not exist")
    try:
        return dict(json.loads(file.read_text()))
    except (OSError, ValueError) as error:
        raise ComponentError(f"imagereward: cannot read med_config {str(file)!r}: {error}") from error


def vision_config_from_state(state: Mapping[str, torch.Tensor], heads: int | None) -> VisionConfig:
    """Infer the ViT size from tensor shapes; heads default to width/64 (true of BLIP's base and large ViTs)."""
    prefix = "blip.visual_encoder."
    try:
        width, _, patch, _ = state[prefix + "patch_embed.proj.weight"].shape
        tokens = state[prefix + "pos_embed"].shape[1]
        hidden = state[prefix + "blocks.0.mlp.fc1.weight"].shape[0]
    except KeyError as error:
        raise ComponentError(f"imagereward: checkpoint lacks the vision encoder's {error.args[0]!r}") from error
    depth = len({k.split(".")[3] for k in state if k.startswith(prefix + "blocks.")})
    grid = math.isqrt(tokens - 1)
    heads = heads or max(1, width // 64)
    if width % heads:
        raise ComponentError(f"imagereward: vision width {width} is not divisible by {heads} heads")
    return VisionConfig(
        image_size=grid * patch, patch_size=patch, width=width, depth=depth, heads=heads, mlp_ratio=hidden / width
    )


def build_model(
    state: Mapping[str, torch.Tensor], med_config: Mapping[str, Any], vision_heads: int | None, source: str
) -> ImageRewardModel:
    """An ImageRewardModel sized for ``state`` with ``state`` loaded; any missing or mis-shaped key is an error."""
    vision = vision_config_from_state(state, vision_heads)
    try:
        text = TextConfig.from_dict(dict(med_config), encoder_width=vision.width)
    except (TypeError, ValueError) as error:
        raise ComponentError(f"imagereward: bad med_config: {error}") from error
    model = ImageRewardModel(vision, text)
    wanted = {k: v for k, v in state.items() if not IGNORED_KEYS.search(k)}
    load_strict(model, wanted, what="imagereward", source=source, model="ImageReward", shape_hint=" — check med_config")
    return model


def score_images(
    model: ImageRewardModel,
    tokenizer: Any,
    prompt: str,
    images: Sequence[Image.Image],
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    batch_size: int | None = None,
) -> list[float]:
    """ImageReward scores of ``images`` for ``prompt``: one forward over all images unless ``batch_size`` splits."""
    pixels = torch.stack([preprocess(image, model.image_size) for image in images])
    ids, mask = tokenize(tokenizer, prompt)
    ids, mask = ids.to(device), mask.to(device)
    step = batch_size or len(images)
    out: list[float] = []
    with torch.inference_mode():
        for start in range(0, len(images), step):
            chunk = pixels[start : start + step].to(device=device, dtype=dtype)
            out.extend(model(chunk, ids, mask).cpu().tolist())
    return out
