"""ViCLIP (InternVid, Wang et al. 2023): a CLIP ViT-L/14 whose image encoder sees 8 frames jointly.

Plain-torch modules with the parameter names of the published checkpoint (``ViClip-InternVid-10M-FLT.pth``,
``{"model": state_dict}`` with ``vision_encoder.*``, ``text_encoder.*`` and ``temp``), so it loads unchanged and
strictly. The video encoder embeds each frame's 14×14 patches with a (1, 14, 14) 3-D convolution, adds spatial and
per-frame temporal position embeddings, runs one transformer over all frames' patches plus a class token, and
projects the class token: one embedding per *clip*, compared with the prompt's CLIP text embedding.
Sizes are read from the checkpoint's tensor shapes; heads are width / 64 (true of ViCLIP-B/16 and -L/14).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from f2g_torch_utils.checkpoints import load_strict
from torch import nn

from f2g_core.errors import ComponentError


@dataclass(frozen=True)
class VisionConfig:
    image_size: int = 224
    patch_size: int = 14
    width: int = 1024
    layers: int = 24
    heads: int = 16
    num_frames: int = 8
    output_dim: int = 768


@dataclass(frozen=True)
class TextConfig:
    context_length: int = 32
    vocab_size: int = 49408
    width: int = 768
    layers: int = 12
    heads: int = 12
    output_dim: int = 768


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class FP32LayerNorm(nn.LayerNorm):
    """The text tower's LayerNorm computes in float32 whatever the weights' dtype (as CLIP's does)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.float() if self.weight is not None else None
        bias = self.bias.float() if self.bias is not None else None
        out = torch.nn.functional.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps)
        return out.to(x.dtype)


class ResidualAttentionBlock(nn.Module):
    """Pre-norm block on (sequence, batch, width) tensors, with QuickGELU as in OpenAI CLIP."""

    def __init__(self, width: int, heads: int, norm: type[nn.LayerNorm] = nn.LayerNorm) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = norm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()), ("c_proj", nn.Linear(width * 4, width))]
            )
        )
        self.ln_2 = norm(width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, norm: type[nn.LayerNorm] = nn.LayerNorm) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads, norm) for _ in range(layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, mask)
        return x


class VideoEncoder(nn.Module):
    """ViCLIP's ``vision_encoder``: (B, 3, T, H, W) video -> (B, output_dim) clip embedding."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.config = config
        w, p = config.width, config.patch_size
        self.conv1 = nn.Conv3d(3, w, (1, p, p), (1, p, p), bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(w))
        self.positional_embedding = nn.Parameter(torch.zeros((config.image_size // p) ** 2 + 1, w))
        self.temporal_positional_embedding = nn.Parameter(torch.zeros(1, config.num_frames, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = Transformer(w, config.layers, config.heads)
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(torch.zeros(w, config.output_dim))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        x = self.conv1(video)  # (B, C, T, h, w)
        b, c, t, h, w = x.shape
        x = x.permute(0, 2, 3, 4, 1).reshape(b * t, h * w, c)
        cls = self.class_embedding.to(x.dtype) + self.positional_embedding[:1].to(x.dtype)  # same for every clip
        x = x + self.positional_embedding[1:].to(x.dtype)
        # per-frame temporal embedding, then all frames' patches in one sequence ordered (patch, frame)
        x = x.reshape(b, t, h * w, c).permute(0, 2, 1, 3)  # (B, patches, T, C)
        temporal = self.temporal_positional_embedding
        x = x + (temporal.mean(1) if t == 1 else temporal)  # single images: ViCLIP's own convention
        x = x.reshape(b, h * w * t, c)
        x = torch.cat([cls.expand(b, 1, c), x], dim=1)
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.ln_post(self.transformer(x))
        return x[0] @ self.proj


class TextEncoder(nn.Module):
    """ViCLIP's ``text_encoder`` (OpenAI CLIP's text tower): token ids (B, L) -> (B, output_dim)."""

    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.width)
        self.positional_embedding = nn.Parameter(torch.zeros(config.context_length, config.width))
        self.transformer = Transformer(config.width, config.layers, config.heads, norm=FP32LayerNorm)
        self.ln_final = FP32LayerNorm(config.width)
        self.text_projection = nn.Parameter(torch.zeros(config.width, config.output_dim))
        mask = torch.full((config.context_length, config.context_length), float("-inf")).triu_(1)
        self.register_buffer("causal_mask", mask, persistent=False)
        self.causal_mask: torch.Tensor

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2), self.causal_mask.to(x.dtype)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ self.text_projection  # the end-of-text token


class ViCLIPModel(nn.Module):
    def __init__(self, vision: VisionConfig, text: TextConfig) -> None:
        super().__init__()
        self.vision_encoder = VideoEncoder(vision)
        self.text_encoder = TextEncoder(text)
        self.temp = nn.Parameter(torch.tensor(0.01))


# ---------------------------------------------------------------------------------------------------- loading


def _count(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    return len({k[len(prefix) :].split(".")[0] for k in state if k.startswith(prefix)})


def configs_from_state(state: Mapping[str, torch.Tensor]) -> tuple[VisionConfig, TextConfig]:
    """Read every size from the tensors; a missing key here means the file is not a ViCLIP checkpoint."""
    try:
        conv = state["vision_encoder.conv1.weight"]
        width, patch = conv.shape[0], conv.shape[-1]
        grid = math.isqrt(state["vision_encoder.positional_embedding"].shape[0] - 1)
        vision = VisionConfig(
            image_size=grid * patch,
            patch_size=patch,
            width=width,
            layers=_count(state, "vision_encoder.transformer.resblocks."),
            heads=max(1, width // 64),
            num_frames=state["vision_encoder.temporal_positional_embedding"].shape[1],
            output_dim=state["vision_encoder.proj"].shape[1],
        )
        vocab, text_width = state["text_encoder.token_embedding.weight"].shape
        text = TextConfig(
            context_length=state["text_encoder.positional_embedding"].shape[0],
            vocab_size=vocab,
            width=text_width,
            layers=_count(state, "text_encoder.transformer.resblocks."),
            heads=max(1, text_width // 64),
            output_dim=state["text_encoder.text_projection"].shape[1],
        )
    except KeyError as error:
        raise ComponentError(f"viclip: checkpoint lacks {error.args[0]!r}: not a ViCLIP checkpoint") from error
    return vision, text


def build_model(state: Mapping[str, torch.Tensor], source: str) -> ViCLIPModel:
    """A ViCLIP sized for ``state`` with ``state`` loaded strictly (clear errors on missing or extra keys)."""
    vision, text = configs_from_state(state)
    model = ViCLIPModel(vision, text)
    load_strict(model, state, what="viclip", source=source, model="ViCLIP")
    return model
