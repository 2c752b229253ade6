"""Tiny configurations, seeded weights and fixed inputs shared by the tests and the golden-value scripts.

The scripts in ``scripts/`` run this file *by path* inside the reference repositories' own environments, so it
imports only torch and :mod:`f2g_torch_utils.checkpoints` (standard library + torch). Weights come from per-key seeds
(:func:`f2g_torch_utils.checkpoints.seeded_state`): the reference model and ours get identical values for every key
they share, so loading the same seeded dict into both also proves that the key layouts agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import torch

SEED = 0

TINY_VC2_UNET: dict[str, Any] = {
    "model_channels": 32,
    "channel_mult": [1, 2],
    "num_res_blocks": 1,
    "attention_resolutions": [1, 2],
    "num_head_channels": 16,
    "context_dim": 32,
    "temporal_length": 4,
}
"""Overrides of VideoCrafter2's ``unet_config`` (every flag — fs, temporal conv/attention — stays as published)."""

TINY_VAE_DDCONFIG: dict[str, Any] = {"ch": 32, "ch_mult": [1, 2], "num_res_blocks": 1, "resolution": 64}
"""Overrides of the LDM autoencoder's ``ddconfig`` (an 8× SD VAE shrunk to 2×, 32 channels)."""

VC2_SEEDED_PREFIXES = ("model.diffusion_model.", "first_stage_model.")
"""The reference model's weights; its other tensors are the noise-schedule buffers, kept as computed."""

VC2_FRAMES, VC2_SIZE, VC2_TOKENS = 4, 8, 8
VC2_DDIM_STEPS = 5
VC2_CFG = 12.0


LAVIE_FRAMES, LAVIE_SIZE, LAVIE_TOKENS = 4, 8, 8
LAVIE_DDIM_STEPS = 5
LAVIE_CFG = 7.5

TINY_LAVIE_UNET: dict[str, Any] = {
    "block_out_channels": [64, 128],
    "down_block_types": ["CrossAttnDownBlock3D", "DownBlock3D"],
    "up_block_types": ["UpBlock3D", "CrossAttnUpBlock3D"],
    "layers_per_block": 1,
    "attention_head_dim": 2,
    "cross_attention_dim": 32,
    "sample_size": 8,
}
"""LaVie's UNet3DConditionModel arguments at tiny size (heads of 32 and 64 channels: the rotary table's 32
channels cover a whole head at the first level and half a head at the second, as in the full model's 40–160)."""

TINY_SD_VAE: dict[str, Any] = {
    "block_out_channels": [32, 64],
    "down_block_types": ["DownEncoderBlock2D"] * 2,
    "up_block_types": ["UpDecoderBlock2D"] * 2,
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 32,
}
"""A diffusers ``AutoencoderKL`` with SD's architecture at 2× instead of 8×."""


def _init(key: str, like: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """O(1) activations through the depth: biases 0.1·n, norm scales 1 + 0.1·n, matrices n / sqrt(fan-in).

    Rotary frequency tables are not weights (their values are fixed by the architecture) and are kept.
    """
    if key.endswith("rotary_emb.freqs"):
        return like.clone()
    if key.endswith("bias"):
        return 0.1 * noise
    if like.ndim <= 1:
        return 1.0 + 0.1 * noise
    fan_in = 1
    for size in like.shape[1:]:
        fan_in *= int(size)
    return noise / fan_in**0.5


def seeded_state(reference: Mapping[str, torch.Tensor], seed: int = SEED) -> dict[str, torch.Tensor]:
    """Deterministic random weights for every tensor of ``reference``, each from its own key-derived seed."""
    from f2g_torch_utils.checkpoints import seeded_state as seeded

    return seeded(reference, seed, _init)


def key_digest(state: Mapping[str, torch.Tensor]) -> str:
    """A digest of a state dict's names and shapes (which keys the golden weights had)."""
    lines = sorted(f"{k}:{tuple(v.shape)}" for k, v in state.items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _randn(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(shape, generator=generator)


def vc2_inputs(seed: int = SEED) -> dict[str, torch.Tensor]:
    """Latents, timesteps, text embeddings and frame rates for the UNet check; start noise and embeddings for DDIM."""
    g = torch.Generator().manual_seed(seed + 1)
    f, s, n, d = VC2_FRAMES, VC2_SIZE, VC2_TOKENS, TINY_VC2_UNET["context_dim"]
    return {
        "latents": _randn(g, 2, 4, f, s, s),
        "timesteps": torch.tensor([981.0, 421.0]),
        "context": _randn(g, 2, n, d),
        "fs": torch.tensor([28.0, 8.0]),
        "x_T": _randn(g, 2, 4, f, s, s),
        "prompt_context": _randn(g, 1, n, d).expand(2, n, d).contiguous(),
        "uncond_context": _randn(g, 1, n, d).expand(2, n, d).contiguous(),
        "sample_fs": torch.tensor([28.0, 28.0]),
    }


def lavie_inputs(seed: int = SEED) -> dict[str, torch.Tensor]:
    """Latents, timesteps and text embeddings for the UNet check; start noise and embeddings for DDIM."""
    g = torch.Generator().manual_seed(seed + 2)
    f, s, n, d = LAVIE_FRAMES, LAVIE_SIZE, LAVIE_TOKENS, TINY_LAVIE_UNET["cross_attention_dim"]
    return {
        "latents": _randn(g, 2, 4, f, s, s),
        "timesteps": torch.tensor([981.0, 421.0]),
        "context": _randn(g, 2, n, d),
        "x_T": _randn(g, 2, 4, f, s, s),
        "prompt_context": _randn(g, 1, n, d),
        "uncond_context": _randn(g, 1, n, d),
    }
