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
    depth: int = 3
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


class JudgeNet(nn.Module):
    """Tile CNN + joint text/image transformer → 9 logits (ratings 1..9)."""

    def __init__(self, cfg: JudgeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w, d = cfg.width, cfg.dim
        self.cnn = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.SiLU(),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * w, d, 4, stride=2, padding=1),
        )
        self.tile_pos = nn.Parameter(torch.randn(4, 1, d) * 0.02)
        self.space_pos = nn.Parameter(torch.randn(1, 16, d) * 0.02)
        self.word = nn.Embedding(len(TOKENS), d)
        self.word_pos = nn.Parameter(torch.randn(MAX_TOKENS, d) * 0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        layer = nn.TransformerEncoderLayer(d, cfg.heads, 4 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, cfg.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 9)

    def forward(self, tiles: torch.Tensor, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        b = tiles.shape[0]
        feats = self.cnn(tiles.flatten(0, 1) * 2 - 1)  # (B*4, D, 4, 4)
        feats = feats.flatten(2).transpose(1, 2).reshape(b, 4, 16, -1) + self.tile_pos + self.space_pos
        image = feats.reshape(b, 64, -1)
        words = self.word(ids) + self.word_pos[: ids.shape[1]]
        x = torch.cat([self.cls.expand(b, -1, -1), words, image], 1)
        mask = torch.cat([torch.zeros(b, 1, dtype=torch.bool), pad, torch.zeros(b, 64, dtype=torch.bool)], 1)
        x = self.transformer(x, src_key_padding_mask=mask)
        return self.head(self.norm(x[:, 0]))
