"""The judge network (torch): rates how well a labelled 2×2 key-frame grid matches a prompt, over ratings 1–9.

Each grid tile (one key frame) goes through a small CNN to a 4×4 map of features; the 64 tile tokens (with frame
and position embeddings) and the prompt's word tokens (with word positions, so order matters) are mixed by a
small transformer, and a class token gives 9 logits. Nothing in it knows the evaluator's rules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from f2g_plugin_shapes.nets import MAX_TOKENS, TOKENS

TILE = 32
"""Tiles are resampled (area) to 32×32, the world's native frame size."""


@dataclass(frozen=True)
class JudgeConfig:
    dim: int = 64
    depth: int = 2
    heads: int = 4
    width: int = 32

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def grid_to_tiles(grids: list[Image.Image]) -> torch.Tensor:
    """Split 2×2 grids into their four tiles (reading order), resampled to 32×32: (B, 4, 3, 32, 32) in [0, 1]."""
    out = []
    for grid in grids:
        array = torch.from_numpy(np.asarray(grid.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)
        h, w = array.shape[1] // 2, array.shape[2] // 2
        tiles = torch.stack([array[:, r * h : (r + 1) * h, c * w : (c + 1) * w] for r in range(2) for c in range(2)])
        out.append(F.interpolate(tiles, size=(TILE, TILE), mode="area"))
    return torch.stack(out)


class FiLMConv(nn.Module):
    """A convolution whose channels the prompt scales and shifts (FiLM): the text decides what to look for."""

    def __init__(self, cin: int, cout: int, dim: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3 if stride == 1 else 4, stride=stride, padding=1)
        self.norm = nn.GroupNorm(8, cout)
        self.film = nn.Linear(dim, 2 * cout)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(text)[:, :, None, None].chunk(2, 1)
        return F.silu(self.norm(self.conv(x)) * (1 + scale) + shift)


class JudgeNet(nn.Module):
    """Prompt encoder + FiLM CNN over the four key frames stacked as channels + text-to-image attention → 9 logits.

    Stacking the tiles as channels lets early convolutions see displacement between key frames (motion);
    FiLM lets the prompt steer which colours and shapes the features respond to; the prompt's word tokens then
    attend over the 8×8 feature map (where things are, for relations) before a class token rates the match.
    """

    def __init__(self, cfg: JudgeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w, d = cfg.width, cfg.dim
        self.word = nn.Embedding(len(TOKENS), d)
        self.word_pos = nn.Parameter(torch.randn(MAX_TOKENS, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, cfg.heads, 2 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.text = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.convs = nn.ModuleList(
            [FiLMConv(12, w, d, 1), FiLMConv(w, 2 * w, d, 2), FiLMConv(2 * w, 2 * w, d, 1), FiLMConv(2 * w, d, d, 2)]
        )
        self.image_pos = nn.Parameter(torch.randn(1, 64, d) * 0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        mix = nn.TransformerEncoderLayer(d, cfg.heads, 2 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.mix = nn.TransformerEncoder(mix, cfg.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 9)

    def forward(self, tiles: torch.Tensor, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        b = tiles.shape[0]
        words = self.text(self.word(ids) + self.word_pos[: ids.shape[1]], src_key_padding_mask=pad)
        keep = (~pad).float()[..., None]
        pooled = (words * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        x = tiles.reshape(b, 12, TILE, TILE) * 2 - 1
        for conv in self.convs:
            x = conv(x, pooled)
        image = x.flatten(2).transpose(1, 2) + self.image_pos  # (B, 64, D) on the 8×8 grid
        seq = torch.cat([self.cls.expand(b, -1, -1), words, image], 1)
        mask = torch.cat([torch.zeros(b, 1, dtype=torch.bool), pad, torch.zeros(b, 64, dtype=torch.bool)], 1)
        out = self.mix(seq, src_key_padding_mask=mask)
        return self.head(self.norm(out[:, 0]))
