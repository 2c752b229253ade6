"""Keyed randomness: every random draw of a run comes from a generator keyed by (seed, chain, step, candidate, stream).

Keys, not a shared stream, make any method reproducible and independent of batching: candidate i of chain c at
step k draws the same noise whatever else is in the batch, two chains never share noise, and candidate 0 of chain 0
is the plain sampler's transition (so one candidate reproduces plain sampling bit for bit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

NOISE = 0
"""Stream of Gaussian noise (initial latents and transitions)."""
SELECT = 1
"""Stream of selection / resampling randomness (numpy generators)."""
INIT_STEP = 2**31 - 1
"""The "step" index of initial noise."""
FINAL_STEP = 2**31 - 2
"""The "step" index of a method's final choice among finished chains."""


def key_seed(seed: int, chain: int, step: int, candidate: int = 0, stream: int = NOISE) -> int:
    """A 64-bit seed derived from the key (NumPy's SeedSequence mixes the words, so nearby keys are unrelated)."""
    words = [seed, chain, step, candidate, stream]
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0])


def keyed_rng(seed: int, chain: int, step: int, stream: int = SELECT) -> np.random.Generator:
    """A NumPy generator for selection or resampling decisions keyed like the noise."""
    return np.random.default_rng(key_seed(seed, chain, step, 0, stream))


def keyed_noise(
    keys: list[tuple[int, int, int, int]],
    shape: tuple[int, ...],
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """(len(keys), *shape) standard normal noise; row r from a CPU generator keyed (seed, chain, step, candidate)."""
    import torch

    rows = [torch.randn(shape, generator=torch.Generator().manual_seed(key_seed(*key, NOISE))) for key in keys]
    return torch.stack(rows).to(device=device, dtype=dtype)
