"""The networks of the shapes world (torch): frame autoencoder, word-order-aware text encoder, denoiser, judge.

Kept in one module that only the backbone, the judge and the training scripts import, so importing the plugin
entry module never imports torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from f2g_plugin_shapes.grammar import VOCABULARY, normalise

PAD, BOS = 0, 1
TOKENS: tuple[str, ...] = ("<pad>", "<bos>", *VOCABULARY)
MAX_TOKENS = 20
"""Longest token sequence: <bos> + the longest grammatical prompt (15 words) with room to spare."""


def tokenize(prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (B, MAX_TOKENS) and a padding mask (True = padding). The empty prompt is just ``<bos>``."""
    ids = torch.full((len(prompts), MAX_TOKENS), PAD, dtype=torch.long)
    for i, prompt in enumerate(prompts):
        words = [TOKENS.index(w) for w in normalise(prompt)][: MAX_TOKENS - 1]
        ids[i, : len(words) + 1] = torch.tensor([BOS, *words])
    return ids, ids == PAD


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the text-to-video model (stored next to the weights)."""

    latent_channels: int = 4
    ae_width: int = 16
    dim: int = 128
    depth: int = 5
    heads: int = 4
    text_depth: int = 2
    patch: int = 2
    frames: int = 16
    latent_size: int = 8

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class FrameAutoencoder(nn.Module):
    """A per-frame convolutional autoencoder 32×32×3 → 8×8×C: decoding only key frames skips the other frames."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        w, c = cfg.ae_width, cfg.latent_channels
        self.encoder = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.SiLU(),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * w, c, 3, padding=1),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(c, 2 * w, 3, padding=1), nn.SiLU(),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.SiLU(),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(2 * w, w, 3, padding=1), nn.SiLU(),
            nn.Conv2d(w, 3, 3, padding=1),
        )
        # latent normalisation (set after autoencoder training so diffusion sees unit-variance latents)
        self.register_buffer("latent_mean", torch.zeros(c))
        self.register_buffer("latent_std", torch.ones(c))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, 32, 32) in [0, 1] → normalised latents (B, C, 8, 8)."""
        z = self.encoder(images * 2 - 1)
        return (z - self.latent_mean[:, None, None]) / self.latent_std[:, None, None]

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents (B, C, 8, 8) → images (B, 3, 32, 32) in [0, 1]."""
        z = latents * self.latent_std[:, None, None] + self.latent_mean[:, None, None]
        return (self.decoder(z) + 1) / 2


class TextEncoder(nn.Module):
    """Word embeddings + learned positions + a small transformer: word order survives (relations need it)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(TOKENS), cfg.dim)
        self.pos = nn.Parameter(torch.randn(MAX_TOKENS, cfg.dim) * 0.02)
        layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, 2 * cfg.dim, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.layers = nn.TransformerEncoder(layer, cfg.text_depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids) + self.pos[: ids.shape[1]]
        return self.norm(self.layers(x, src_key_padding_mask=pad))


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of continuous time t in [0, 1]."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * 1000.0 * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


class Attention(nn.Module):
    """Multi-head attention on scaled_dot_product_attention (self- or cross-)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        h = self.heads
        q = self.q(x).view(b, n, h, d // h).transpose(1, 2)
        k, v = self.kv(context).view(b, context.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        attn_mask = None if mask is None else (~mask)[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Full spatio-temporal self-attention, cross-attention to the prompt, MLP; adaLN-zero time conditioning."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.cross = Attention(dim, heads)
        self.norm3 = nn.LayerNorm(dim, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))
        self.ada = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, temb: torch.Tensor, text: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        s1, b1, g1, s2, b2, g2 = self.ada(temb)[:, None].chunk(6, -1)
        h = self.norm1(x) * (1 + s1) + b1
        x = x + (1 + g1) * self.attn(h, h)
        x = x + self.cross(self.norm2(x), text, pad)
        h = self.norm3(x) * (1 + s2) + b2
        return x + (1 + g2) * self.mlp(h)


class Denoiser(nn.Module):
    """Predicts clean latents x0 of a noisy latent video (B, F, C, 8, 8) at time t, conditioned on prompt tokens."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        p, c, d = cfg.patch, cfg.latent_channels, cfg.dim
        self.grid = cfg.latent_size // p
        self.proj_in = nn.Linear(c * p * p, d)
        self.frame_pos = nn.Parameter(torch.randn(cfg.frames, 1, d) * 0.02)
        self.space_pos = nn.Parameter(torch.randn(1, self.grid * self.grid, d) * 0.02)
        self.time = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(Block(d, cfg.heads) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(d)
        self.proj_out = nn.Linear(d, c * p * p)

    def forward(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        b, f, c, hh, ww = x.shape
        p, g = self.cfg.patch, self.grid
        tokens = x.reshape(b, f, c, g, p, g, p).permute(0, 1, 3, 5, 2, 4, 6).reshape(b, f, g * g, c * p * p)
        h = self.proj_in(tokens) + self.frame_pos[:f] + self.space_pos
        h = h.reshape(b, f * g * g, -1)
        temb = self.time(timestep_embedding(t, h.shape[-1]))
        for block in self.blocks:
            h = block(h, temb, text, pad)
        out = self.proj_out(self.norm_out(h)).reshape(b, f, g, g, c, p, p)
        return out.permute(0, 1, 4, 2, 5, 3, 6).reshape(b, f, c, hh, ww)


class VideoModel(nn.Module):
    """Autoencoder + text encoder + denoiser, saved together as one safetensors file."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.autoencoder = FrameAutoencoder(cfg)
        self.text = TextEncoder(cfg)
        self.denoiser = Denoiser(cfg)


def alpha_bar(t: torch.Tensor | float) -> torch.Tensor:
    """Cosine schedule ᾱ(t) for continuous t in [0, 1] (t = 1 pure noise), clipped away from 0."""
    tt = torch.as_tensor(t, dtype=torch.float64)
    value = torch.cos((tt + 0.008) / 1.008 * math.pi / 2) ** 2
    return value.clamp(1e-4, 1.0)
