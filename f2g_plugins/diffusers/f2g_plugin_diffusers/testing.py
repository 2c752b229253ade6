"""A plain, unguided sampling loop over a backbone, written only with the core contract.

Parity tests run it next to the diffusers pipeline on the same noise: if the two agree, the backbone's schedule,
prompt encoding, CFG, x̂0 conversion and latent layout are right. It is deliberately independent of
``f2g_core.sampling`` so that a bug there cannot hide a bug here (and vice versa).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from f2g_core.interfaces import Backbone


def unguided_sample(
    backbone: Backbone,
    prompt: str,
    noise: torch.Tensor,
    num_steps: int,
    *,
    negative_prompt: str | None = None,
    cfg_scale: float | None = None,
    eta: float = 0.0,
    step_noise: Callable[[int], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Sample from ``noise`` (batch, *latent_shape) and return the final latents (level T).

    ``step_noise(i)`` gives the fresh noise of step i when ``eta > 0``.
    """
    backbone.load()
    schedule = backbone.schedule(num_steps)
    cond = backbone.encode_prompt(prompt, negative_prompt, cfg_scale)
    latents = backbone.initial_latents(noise.to(backbone.device, backbone.dtype), schedule)
    for i in range(schedule.num_steps):
        src, dst = schedule.level(i), schedule.level(i + 1)
        x0 = backbone.denoise(latents, src, cond)
        fresh = step_noise(i).to(backbone.device, backbone.dtype) if (eta > 0 and step_noise) else None
        latents = backbone.transition(latents, x0, src, dst, fresh, eta)  # type: ignore[arg-type]
    return latents


def count_transformer_rows(backbone: Backbone) -> list[int]:
    """Record the batch size of every call of a loaded diffusers backbone's transformer (appended to the returned
    list as the calls happen): how tests see how many rows (candidates × CFG) each denoiser call really carried."""
    transformer = backbone.pipe.transformer  # type: ignore[attr-defined]
    rows: list[int] = []
    forward = transformer.forward

    def counted(*args: Any, **kwargs: Any) -> Any:
        rows.append(kwargs["hidden_states"].shape[0])
        return forward(*args, **kwargs)

    transformer.forward = counted
    return rows
