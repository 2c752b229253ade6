"""Turn a diffusers scheduler's noise levels into an f2g :class:`~f2g_core.interfaces.Schedule`.

We read the levels from the scheduler (so shifts, spacing and final-alpha conventions are the model's own) but
never call its ``step()``: the core steppers do the transitions, statelessly, so candidates can branch.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from f2g_core.errors import ConfigError
from f2g_core.interfaces import Schedule

_DDIM_CLASSES = ("DDIMScheduler", "CogVideoXDDIMScheduler")


def flow_schedule(scheduler: Any, num_steps: int, **set_timesteps_kwargs: Any) -> Schedule:
    """A flow-matching schedule (alpha = 1 - σ, sigma = σ) from the scheduler's own shifted sigmas.

    ``set_timesteps_kwargs`` are what the pipeline passes (``sigmas=``, ``mu=``); the scheduler is copied so
    the caller's instance keeps its state.
    """
    sched = copy.deepcopy(scheduler)
    sched.set_timesteps(num_steps, device="cpu", **set_timesteps_kwargs)
    timesteps = [float(t) for t in sched.timesteps.tolist()]
    sigmas = [float(s) for s in sched.sigmas.tolist()][: len(timesteps) + 1]
    if len(sigmas) != len(timesteps) + 1:
        raise ValueError(f"{type(scheduler).__name__} gave {len(sigmas)} sigmas for {len(timesteps)} steps")
    return Schedule(timesteps=tuple(timesteps), alphas=tuple(1.0 - s for s in sigmas), sigmas=tuple(sigmas))


def custom_flow_schedule(scheduler: Any, timesteps: list[float] | None, sigmas: list[float] | None) -> Schedule:
    """A flow-matching schedule given step by step (a distill's), used as given: no shift is applied.

    Either list may be missing: σ = t / num_train_timesteps and back. The clean level (σ = 0) is appended.
    """
    train = float(scheduler.config.num_train_timesteps)
    if sigmas is None:
        assert timesteps is not None
        sigmas = [t / train for t in timesteps]
    if timesteps is None:
        timesteps = [s * train for s in sigmas]
    levels = [float(s) for s in sigmas] + [0.0]
    return Schedule(
        timesteps=tuple(float(t) for t in timesteps), alphas=tuple(1.0 - s for s in levels), sigmas=tuple(levels)
    )


def custom_ddim_schedule(scheduler: Any, timesteps: list[int]) -> Schedule:
    """A variance-preserving schedule at the given training timesteps, ending at ``final_alpha_cumprod`` as
    :func:`ddim_schedule` does."""
    sched = as_ddim(scheduler)
    train = int(sched.config.num_train_timesteps)
    if max(timesteps) >= train:
        raise ConfigError(f"backbone option timesteps: must be below num_train_timesteps ({train}); got {timesteps}")
    alpha_bars = [float(sched.alphas_cumprod[t]) for t in timesteps] + [float(sched.final_alpha_cumprod)]
    return Schedule(
        timesteps=tuple(float(t) for t in timesteps),
        alphas=tuple(math.sqrt(a) for a in alpha_bars),
        sigmas=tuple(math.sqrt(max(1.0 - a, 0.0)) for a in alpha_bars),
    )


def as_ddim(scheduler: Any) -> Any:
    """The DDIM scheduler sharing ``scheduler``'s training noise schedule (other samplers' configs convert)."""
    if type(scheduler).__name__ in _DDIM_CLASSES:
        return scheduler
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config(scheduler.config)


def ddim_schedule(scheduler: Any, num_steps: int) -> Schedule:
    """A variance-preserving schedule (alpha = sqrt(ᾱ), sigma = sqrt(1 - ᾱ)) at the scheduler's timesteps.

    Level i has ᾱ at the i-th listed timestep; the clean level T has ``final_alpha_cumprod`` (1 with
    ``set_alpha_to_one``, else ᾱ at t=0), as DDIM's last step does. DDIM's ``step`` moves to
    ``t - num_train_timesteps // num_steps``, which is the next listed timestep for "leading" and "trailing"
    spacing whenever ``num_steps`` divides ``num_train_timesteps`` (then this matches it exactly); with
    "linspace" spacing the two differ by a fraction of a timestep and we step to the listed one, which is the
    level the model is evaluated at next.
    """
    sched = copy.deepcopy(as_ddim(scheduler))
    sched.set_timesteps(num_steps, device="cpu")
    timesteps = [int(t) for t in sched.timesteps.tolist()]
    cumprod = sched.alphas_cumprod
    alpha_bars = [float(cumprod[t]) for t in timesteps] + [float(sched.final_alpha_cumprod)]
    return Schedule(
        timesteps=tuple(float(t) for t in timesteps),
        alphas=tuple(math.sqrt(a) for a in alpha_bars),
        sigmas=tuple(math.sqrt(max(1.0 - a, 0.0)) for a in alpha_bars),
    )
