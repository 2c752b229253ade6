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

    latent_channels: int = 16
    ae_patch: int = 4
    dim: int = 128
    depth: int = 4
    heads: int = 4
    text_depth: int = 2
    patch: int = 1
    frame_patch: int = 8
    frames: int = 16
    latent_size: int = 8

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class FrameAutoencoder(nn.Module):
    """A per-frame linear (PCA) autoencoder: 4×4×3 pixel patches ↔ the top C principal components.

    32×32×3 frames become 8×8×C latents. It is fitted in closed form on rendered frames (seconds, exact and
    reproducible, where a trained convolutional autoencoder took minutes on this CPU to get shapes' edges right),
    and decoding is one matrix product per frame, so decoding only the key frames is a real saving.
    """

    components: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        p, c = cfg.ae_patch, cfg.latent_channels
        self.patch = p
        self.register_buffer("components", torch.zeros(c, p * p * 3))
        self.register_buffer("mean", torch.zeros(p * p * 3))
        self.register_buffer("scale", torch.ones(()))

    def _patches(self, images: torch.Tensor) -> torch.Tensor:
        b, ch, h, w = images.shape
        p = self.patch
        return images.reshape(b, ch, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, h // p, w // p, -1)

    def fit(self, images: torch.Tensor) -> None:
        """Fit the components to frames (B, 3, H, W) in [0, 1]; the latent scale makes their overall std 1."""
        flat = self._patches(images.double()).reshape(-1, self.mean.numel())
        mean = flat.mean(0)
        _, _, vt = torch.linalg.svd(flat - mean, full_matrices=False)
        comps = vt[: self.components.shape[0]]
        z = (flat - mean) @ comps.T
        self.components.copy_(comps.float())
        self.mean.copy_(mean.float())
        self.scale.copy_(z.std().float())

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, 32, 32) in [0, 1] → latents (B, C, 8, 8)."""
        z = (self._patches(images) - self.mean) @ self.components.T / self.scale
        return z.permute(0, 3, 1, 2).contiguous()

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (B, C, 8, 8) → images (B, 3, 32, 32), clamped to [0, 1]."""
        b, _, gh, gw = latents.shape
        p = self.patch
        flat = latents.permute(0, 2, 3, 1) * self.scale @ self.components + self.mean
        images = flat.reshape(b, gh, gw, p, p, 3).permute(0, 5, 1, 3, 2, 4).reshape(b, 3, gh * p, gw * p)
        return images.clamp(0, 1)


class TextEncoder(nn.Module):
    """Word embeddings + learned positions + a small transformer: word order survives (relations need it)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(TOKENS), cfg.dim)
        self.pos = nn.Parameter(torch.randn(MAX_TOKENS, cfg.dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            cfg.dim, cfg.heads, 2 * cfg.dim, dropout=0.0, batch_first=True, norm_first=True
        )
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


def sincos_positions(frames: int, grid: int, dim: int) -> torch.Tensor:
    """Fixed sine-cosine features of (frame, row, column) per token, (frames, grid², dim).

    A quarter of the features encode the frame, three eighths each the row and the column; fixed features give every
    token its place from the first step, so object structure is shared across positions instead of learned anew
    for each of them.
    """

    def axis(values: torch.Tensor, width: int) -> torch.Tensor:
        freqs = torch.exp(-math.log(100.0) * torch.arange(width // 2, dtype=torch.float32) / (width // 2))
        args = values[:, None].float() * freqs[None]
        return torch.cat([torch.sin(args), torch.cos(args)], -1)

    ft = dim // 4
    fs = (dim - ft) // 2
    t = axis(torch.arange(frames), ft)[:, None, None, :].expand(frames, grid, grid, ft)
    y = axis(torch.arange(grid), fs)[None, :, None, :].expand(frames, grid, grid, fs)
    x = axis(torch.arange(grid), dim - ft - fs)[None, None, :, :].expand(frames, grid, grid, dim - ft - fs)
    return torch.cat([t, y, x], -1).reshape(frames, grid * grid, dim)


def rotary_tables(frames: int, grid: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines (tokens, head_dim / 2) of a 3-axis rotary embedding over (frame, row, column).

    Rotating queries and keys by their token's place makes attention scores depend on relative offsets, so "the
    same object one step later, one column to the left" is one learned pattern everywhere: the bias motion needs.
    """
    pairs = head_dim // 2
    pt = pairs // 4
    ps = (pairs - pt) // 2
    angles = []
    for values, width in (
        (torch.arange(frames)[:, None, None].expand(frames, grid, grid), pt),
        (torch.arange(grid)[None, :, None].expand(frames, grid, grid), ps),
        (torch.arange(grid)[None, None, :].expand(frames, grid, grid), pairs - pt - ps),
    ):
        freqs = torch.exp(-math.log(32.0) * torch.arange(width, dtype=torch.float32) / max(width, 1))
        angles.append(values.reshape(-1, 1).float() * freqs[None])
    table = torch.cat(angles, -1)
    return torch.cos(table), torch.sin(table)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate feature pairs (x[..., :d/2], x[..., d/2:]) of (B, heads, tokens, d) by the tables' angles."""
    a, b = x.chunk(2, -1)
    return torch.cat([a * cos - b * sin, a * sin + b * cos], -1)


class Attention(nn.Module):
    """Multi-head attention on scaled_dot_product_attention (self- or cross-)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor,
        mask: torch.Tensor | None = None,
        rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        b, n, d = x.shape
        h = self.heads
        q = self.q(x).view(b, n, h, d // h).transpose(1, 2)
        k, v = self.kv(context).view(b, context.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
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

    def forward(
        self,
        x: torch.Tensor,
        temb: torch.Tensor,
        text: torch.Tensor,
        pad: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        s1, b1, g1, s2, b2, g2 = self.ada(temb)[:, None].chunk(6, -1)
        h = self.norm1(x) * (1 + s1) + b1
        x = x + (1 + g1) * self.attn(h, h, rotary=rotary)
        x = x + self.cross(self.norm2(x), text, pad)
        h = self.norm3(x) * (1 + s2) + b2
        return x + (1 + g2) * self.mlp(h)


class Denoiser(nn.Module):
    """Predicts clean latents x0 of a noisy latent video (B, F, C, 8, 8) at time t, conditioned on prompt tokens."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        p, q, c, d = cfg.patch, cfg.frame_patch, cfg.latent_channels, cfg.dim
        self.grid = cfg.latent_size // p
        self.proj_in = nn.Linear(c * q * p * p, d)
        # absolute places (objects must stay inside the frame) plus rotary relative offsets (motion, relations)
        self.register_buffer("pos", sincos_positions(cfg.frames // q, self.grid, d), persistent=False)
        cos, sin = rotary_tables(cfg.frames // q, self.grid, d // cfg.heads)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.time = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(Block(d, cfg.heads) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(d)
        self.proj_out = nn.Linear(d, c * q * p * p)

    def forward(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        b, f, c, hh, ww = x.shape
        p, q, g = self.cfg.patch, self.cfg.frame_patch, self.grid
        # tokens: (group of q frames, p×p latent patch), each carrying q·p·p·C numbers
        tokens = x.reshape(b, f // q, q, c, g, p, g, p).permute(0, 1, 4, 6, 2, 3, 5, 7)
        h = self.proj_in(tokens.reshape(b, f // q, g * g, -1)) + self.pos
        h = h.reshape(b, (f // q) * g * g, -1)
        temb = self.time(timestep_embedding(t, h.shape[-1]))
        for block in self.blocks:
            h = block(h, temb, text, pad, (self.rope_cos, self.rope_sin))
        out = self.proj_out(self.norm_out(h)).reshape(b, f // q, g, g, q, c, p, p)
        return out.permute(0, 1, 4, 5, 2, 6, 3, 7).reshape(b, f, c, hh, ww)


class VideoModel(nn.Module):
    """Autoencoder + text encoder + denoiser, saved together as one safetensors file."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.autoencoder = FrameAutoencoder(cfg)
        self.text = TextEncoder(cfg)
        self.denoiser = Denoiser(cfg)


def shifted_time(u: torch.Tensor | float, shift: float) -> torch.Tensor:
    """The model time whose cosine ᾱ has its SNR divided by shift²: more of training and sampling at high noise.

    Sixteen nearly identical frames make the latent video far more redundant than one image, so under the plain
    cosine schedule the layout is already fixed at t = 0.9 and sampling decides it in its first two or three steps.
    Shifting the SNR (as for high-resolution images) spreads that decision over many steps.
    """
    uu = torch.as_tensor(u, dtype=torch.float64)
    if shift == 1.0:
        return uu
    ab = alpha_bar(uu)
    shifted = ab / (ab + shift**2 * (1 - ab))
    # invert the cosine schedule: t = acos(sqrt(ᾱ)) · 2/π · 1.008 − 0.008
    t = torch.arccos(shifted.sqrt().clamp(0, 1)) * 2 / math.pi * 1.008 - 0.008
    return t.clamp(0.0, 1.0)


def alpha_bar(t: torch.Tensor | float) -> torch.Tensor:
    """Cosine schedule ᾱ(t) for continuous t in [0, 1] (t = 1 pure noise), clipped away from 0."""
    tt = torch.as_tensor(t, dtype=torch.float64)
    value = torch.cos((tt + 0.008) / 1.008 * math.pi / 2) ** 2
    return value.clamp(1e-4, 1.0)
