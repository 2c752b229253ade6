"""BLIP's ViT image encoder and its BERT text encoder with cross-attention, as ImageReward uses them.

Written in plain torch so it runs on any current stack: the reference ``image-reward`` package needs
transformers ≤ 4.55 and timm 0.6. Module and parameter names mirror the reference exactly, so the official
``ImageReward.pt`` state dict loads without any renaming, and the arithmetic follows the reference step by step
(pre-norm ViT with eps 1e-6; post-norm BERT with absolute positions, ``-10000`` additive padding mask, and a
cross-attention block after every self-attention block), which is what the golden-value test checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class VisionConfig:
    """BLIP ViT: ImageReward uses ``vit='large'`` (1024 wide, 24 blocks, 16 heads, 16-pixel patches at 224)."""

    image_size: int = 224
    patch_size: int = 16
    width: int = 1024
    depth: int = 24
    heads: int = 16
    mlp_ratio: float = 4.0


@dataclass(frozen=True)
class TextConfig:
    """BLIP's "med" BERT config; the defaults are BLIP's published ``med_config.json`` (BERT-base + 2 tokens)."""

    vocab_size: int = 30524
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    pad_token_id: int = 0
    encoder_width: int = 1024
    """Width of the image tokens the cross-attention reads (set from the vision encoder, as BLIP does)."""

    @classmethod
    def from_dict(cls, config: dict[str, object], encoder_width: int) -> TextConfig:
        """Read a ``med_config.json`` dict; unknown keys (architectures, dropout, …) do not change inference."""
        names = {f for f in cls.__dataclass_fields__ if f != "encoder_width"}
        values = {k: v for k, v in config.items() if k in names}
        if config.get("add_cross_attention") is False:
            raise ValueError("ImageReward's text encoder needs add_cross_attention: true in med_config")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported (as in ImageReward)")
        return cls(**values, encoder_width=encoder_width)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------- vision


class PatchEmbed(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, config.width, kernel_size=config.patch_size, stride=config.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (width // heads) ** -0.5
        self.qkv = nn.Linear(width, width * 3, bias=True)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class VisionMlp(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class VisionBlock(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.width, eps=1e-6)
        self.attn = VisionAttention(config.width, config.heads)
        self.norm2 = nn.LayerNorm(config.width, eps=1e-6)
        self.mlp = VisionMlp(config.width, int(config.width * config.mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """BLIP's ViT: patch embedding, class token, learned positions, pre-norm blocks, final norm; all tokens out."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.config = config
        patches = (config.image_size // config.patch_size) ** 2
        self.patch_embed = PatchEmbed(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, patches + 1, config.width))
        self.blocks = nn.ModuleList(VisionBlock(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.width, eps=1e-6)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(pixels)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_embed[:, : x.size(1), :]
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


# --------------------------------------------------------------------------------------------------- text


def _activation(name: str) -> nn.Module:
    acts: dict[str, nn.Module] = {"gelu": nn.GELU(), "gelu_new": nn.GELU(approximate="tanh"), "relu": nn.ReLU()}
    if name not in acts:
        raise ValueError(f"unsupported hidden_act {name!r} (expected one of {sorted(acts)})")
    return acts[name]


class BertEmbeddings(nn.Module):
    """Word + absolute position embeddings (BLIP's BERT has no token-type embeddings), then LayerNorm."""

    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.register_buffer(
            "position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)), persistent=False
        )
        self.position_ids: torch.Tensor

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = self.position_ids[:, : input_ids.shape[1]]
        return self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings(positions))


class BertSelfAttention(nn.Module):
    def __init__(self, config: TextConfig, cross: bool) -> None:
        super().__init__()
        self.heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        source = config.encoder_width if cross else config.hidden_size
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(source, config.hidden_size)
        self.value = nn.Linear(source, config.hidden_size)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:-1], self.heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        q, k, v = self._split(self.query(x)), self._split(self.key(context)), self._split(self.value(context))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size)
        if mask is not None:
            scores = scores + mask
        out = torch.matmul(scores.softmax(dim=-1), v).permute(0, 2, 1, 3).contiguous()
        return out.view(*out.shape[:-2], self.heads * self.head_size)


class BertSelfOutput(nn.Module):
    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(hidden) + residual)


class BertAttention(nn.Module):
    def __init__(self, config: TextConfig, cross: bool = False) -> None:
        super().__init__()
        self.self = BertSelfAttention(config, cross)
        self.output = BertSelfOutput(config)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.output(self.self(x, context, mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = _activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(hidden) + residual)


class BertLayer(nn.Module):
    """Self-attention over the prompt, cross-attention to the image tokens, feed-forward (BLIP "multimodal")."""

    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.crossattention = BertAttention(config, cross=True)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, x, mask)
        x = self.crossattention(x, image, None)  # every image token is attended: its mask is all zeros
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))


class BertTextEncoder(nn.Module):
    """BLIP's text encoder in multimodal mode: returns the last hidden states (B, L, hidden)."""

    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(input_ids)
        mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.encoder.layer:
            x = layer(x, mask, image)
        return x


class BlipCore(nn.Module):
    """The ``blip`` sub-module of ImageReward (only the parts scoring uses; the unused projections are skipped)."""

    def __init__(self, vision: VisionConfig, text: TextConfig) -> None:
        super().__init__()
        self.visual_encoder = VisionTransformer(vision)
        self.text_encoder = BertTextEncoder(text)
