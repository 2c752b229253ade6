"""The judge network (torch): a perception CNN over the labelled 2×2 key-frame grid.

The grid is split back into its four tiles (key frames, reading order), which are stacked as 12 channels so early
convolutions see the displacement between key frames. For each palette colour the network predicts whether an
object of that colour is in the video, its shape, its motion and its centre on each key frame. It is trained on
rendered, degraded videos with the renderer's scene as labels — never on the evaluator's output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

TILE = 32
"""Tiles are resampled (area) to 32×32, the world's native frame size."""
NUM_COLOURS, NUM_SHAPES, NUM_MOTIONS, NUM_KEYS = 6, 3, 5, 4
PER_COLOUR = 1 + NUM_SHAPES + NUM_MOTIONS + 2 * NUM_KEYS
"""Outputs per colour: presence logit, shape logits, motion logits, (x, y) centre per key frame in [0, 1]."""


@dataclass(frozen=True)
class JudgeConfig:
    width: int = 32
    hidden: int = 256

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class Perception:
    """What the network sees, per colour: presence probability, shape / motion distributions, key-frame centres."""

    present: torch.Tensor  # (B, 6)
    shape: torch.Tensor  # (B, 6, 3) probabilities
    motion: torch.Tensor  # (B, 6, 5) probabilities
    centres: torch.Tensor  # (B, 6, 4, 2) in pixels


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
    """CNN (key frames stacked as channels, plus coordinate channels) → per-colour attribute predictions."""

    coords: torch.Tensor

    def __init__(self, cfg: JudgeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.features = nn.Sequential(
            nn.Conv2d(14, w, 3, padding=1), nn.SiLU(),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.SiLU(),
            nn.Conv2d(2 * w, 3 * w, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(3 * w, 3 * w, 3, padding=1), nn.SiLU(),
        )  # fmt: skip
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(3 * w * 64, cfg.hidden), nn.SiLU(), nn.Linear(cfg.hidden, NUM_COLOURS * PER_COLOUR)
        )
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, TILE), torch.linspace(-1, 1, TILE), indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys])[None], persistent=False)

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        """Raw outputs (B, 6, PER_COLOUR)."""
        b = tiles.shape[0]
        x = torch.cat([tiles.reshape(b, 12, TILE, TILE) * 2 - 1, self.coords.expand(b, -1, -1, -1)], 1)
        return self.head(self.features(x)).view(b, NUM_COLOURS, PER_COLOUR)

    @staticmethod
    def perceive(raw: torch.Tensor) -> Perception:
        """Turn raw outputs into probabilities and pixel centres."""
        s, m = 1 + NUM_SHAPES, 1 + NUM_SHAPES + NUM_MOTIONS
        return Perception(
            present=torch.sigmoid(raw[..., 0]),
            shape=torch.softmax(raw[..., 1:s], -1),
            motion=torch.softmax(raw[..., s:m], -1),
            centres=(raw[..., m:].reshape(*raw.shape[:2], NUM_KEYS, 2) + 0.5) * TILE,
        )
