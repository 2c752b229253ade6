"""VideoCrafter2's text stage: the OpenCLIP ViT-H/14 text transformer, read at its penultimate layer.

``model.ckpt`` stores it under ``cond_stage_model.model.*`` with open_clip's names (the image tower was deleted
before training). We build the text tower alone, with those names, in plain torch; prompts are tokenized by
open_clip's own tokenizer (the reference's), so ids, padding (0) and truncation are identical. The output is the
token sequence after the second-to-last residual block, passed through the final LayerNorm, as the reference
``FrozenOpenCLIPEmbedder(layer="penultimate")`` computes it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class TextConfig:
    """Sizes of the text tower (defaults: OpenCLIP ViT-H-14)."""

    vocab_size: int = 49408
    context_length: int = 77
    width: int = 1024
    heads: int = 16
    layers: int = 24
    embed_dim: int = 1024


class _LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 (half-precision weights and activations are cast up and back)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.weight.float(), self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).to(x.dtype)


class ResidualBlock(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = _LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = _LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [("c_fc", nn.Linear(width, width * 4)), ("gelu", nn.GELU()), ("c_proj", nn.Linear(width * 4, width))]
            )
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class _Transformer(nn.Module):
    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualBlock(config.width, config.heads) for _ in range(config.layers)])


class OpenCLIPTextEncoder(nn.Module):
    """The text tower; ``forward(token_ids (B, 77))`` -> penultimate-layer features (B, 77, width)."""

    def __init__(self, config: TextConfig | None = None) -> None:
        super().__init__()
        cfg = config or TextConfig()
        self.config = cfg
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.width)
        self.positional_embedding = nn.Parameter(torch.empty(cfg.context_length, cfg.width))
        self.transformer = _Transformer(cfg)
        self.ln_final = _LayerNorm(cfg.width)
        # Unused by the video model, but part of the published text stage (strict loading keeps them).
        self.text_projection = nn.Parameter(torch.empty(cfg.width, cfg.embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        n = ids.shape[1]
        x = self.token_embedding(ids) + self.positional_embedding[:n]
        mask = torch.full((n, n), float("-inf"), device=ids.device, dtype=x.dtype).triu(1)
        for block in list(self.transformer.resblocks)[:-1]:  # penultimate layer
            x = block(x, mask)
        return self.ln_final(x)


def tokenize(prompts: list[str], context_length: int = 77) -> torch.Tensor:
    """open_clip's tokenizer (lower-cased, cleaned BPE, zero padding, truncated with the end token kept)."""
    from f2g_torch_utils.compat import ensure_torchvision

    ensure_torchvision()  # open_clip imports torchvision
    import open_clip

    return open_clip.tokenize(prompts, context_length=context_length)
