"""The component interfaces plugins implement: rewards, combiners and backbones.

Every component is a class with

* a class attribute ``name`` (its id in configs and on the command line),
* an inner pydantic ``Options`` model (``extra="forbid"``) that validates its configuration block,
* a cheap ``__init__(options)`` and a ``load()`` that does the heavy work (weights, clients) lazily,
* ``close()`` to release resources.

The registry builds components from configuration; plugins only register the classes.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from f2g_core.images import key_frame_grid, to_pil
from f2g_core.limits import NO_LIMITS, SharedLimits
from f2g_core.steppers import gaussian_step

if TYPE_CHECKING:  # torch is imported where tensors are made, so importing a plugin stays cheap
    import torch


class Component:
    """Common behaviour of rewards, combiners and backbones."""

    name: ClassVar[str]
    """The id users write in configs (``type: clip``). Lower-case words joined by ``-``."""

    class Options(BaseModel):
        """Options of a component; subclasses define their own ``Options(Component.Options)``."""

        model_config = ConfigDict(extra="forbid")

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options: Any = options if options is not None else self.Options()

    @classmethod
    def description(cls) -> str:
        """One line for listings: the first line of the class docstring."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def load(self) -> None:
        """Load weights or create clients. Called once before first use; must be idempotent."""

    def close(self) -> None:
        """Release resources (clients, GPU memory). Called when the pipeline is closed."""


# --------------------------------------------------------------------------------------------------- rewards


@dataclass(frozen=True)
class StepInfo:
    """Where in sampling a reward is being asked: lets rewards log, cache or adapt per step."""

    index: int
    """The sampling step whose candidates are scored (0-based; ``-1`` for finished videos)."""
    num_steps: int
    """Total number of sampling steps T."""
    timestep: float
    """The model timestep of the candidates' noise level (0 for finished videos)."""

    @classmethod
    def final(cls, num_steps: int) -> StepInfo:
        """The step info of finished videos (best-of-N, evaluation)."""
        return cls(index=-1, num_steps=num_steps, timestep=0.0)


@dataclass(frozen=True)
class RewardBatch:
    """What a reward scores: the key frames of every candidate for one prompt.

    One batch holds one video's candidates (one prompt): when several videos are sampled together the scorer sends
    one batch per video, so a combiner normalises within each video's group and a reward never mixes prompts.
    ``run`` says which video run the batch belongs to (unique per pipeline): rewards with per-video budgets or
    counters key them by it, since batches of several videos arrive interleaved or at the same time.

    ``frames`` has shape (N, F, H, W, 3), float32 in [0, 1]: N candidates, F key frames each, in the order of
    ``frame_indices`` (their positions in the full video of ``num_frames`` frames). ``fps`` is the frame rate of that
    full video as the backbone makes it (:attr:`Backbone.fps`), None when the backbone does not say: rewards that
    sample frames by time (VideoReward takes 2 per second) need it and must not guess it.
    """

    prompt: str
    frames: np.ndarray
    frame_indices: tuple[int, ...]
    num_frames: int
    step: StepInfo
    run: int = 0
    fps: float | None = None

    def __post_init__(self) -> None:
        if self.frames.ndim != 5 or self.frames.shape[-1] != 3:
            raise ValueError(f"RewardBatch.frames must be (N, F, H, W, 3), got {self.frames.shape}")
        if self.frames.shape[1] != len(self.frame_indices):
            raise ValueError(
                f"RewardBatch has {self.frames.shape[1]} frames per candidate but {len(self.frame_indices)} indices"
            )

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def uint8(self) -> np.ndarray:
        """The frames as uint8 (N, F, H, W, 3), rounded."""
        return np.clip(np.rint(self.frames * 255.0), 0, 255).astype(np.uint8)

    def pil_frames(self, index: int) -> list[Image.Image]:
        """The key frames of candidate ``index`` as PIL images."""
        return [to_pil(frame) for frame in self.frames[index]]

    def grid(self, index: int, labels: bool = True) -> Image.Image:
        """The key frames of candidate ``index`` as one labelled grid (2×2 for four frames), as LVLMs see them."""
        return key_frame_grid(self.frames[index], labels=labels)


class Reward(Component):
    """Scores candidates: one float per candidate, higher is better, NaN when a candidate could not be scored.

    Implement :meth:`score`. Rewards that call remote services should subclass :class:`AsyncReward` instead.
    """

    shared_limits: SharedLimits = NO_LIMITS
    """The run's shared limits on remote calls, handed over by the pipeline (:mod:`f2g_core.limits`): a remote
    reward asks them before every request; with none set, they allow everything."""

    def score(self, batch: RewardBatch) -> Sequence[float]:
        """Return ``len(batch)`` scores. Return NaN for a candidate that could not be scored, never a made-up 0."""
        raise NotImplementedError

    def score_many(self, batches: Sequence[RewardBatch]) -> list[Sequence[float]]:
        """The scores of several batches (several prompts) at once: what a shared host
        (:class:`~f2g_core.hosting.SharedReward`) calls with every worker's batch that arrived while the model was
        busy. The default scores them one by one; a reward whose model takes several prompts in one forward pass
        may override it, and must then document how far its scores can differ from :meth:`score`'s."""
        return [self.score(batch) for batch in batches]

    def check_key_frames(self, frame_indices: Sequence[int], num_frames: int) -> None:
        """Raise ``ValueError`` (saying what to change) if this reward cannot score these key frames.

        Called by ``f2g run --check`` and before every run, before anything loads, so a reward that needs, say,
        exactly four frames for a 2×2 grid fails at once instead of scoring NaN at every guided step.
        """

    def usage(self) -> Mapping[str, float]:
        """Cumulative counters since ``load()`` (calls, tokens, cost_usd, cache_hits, failures, …).

        The sampler records the per-step difference in the trace and the totals in the run summary.
        """
        return {}

    def trace_info(self) -> Mapping[str, Any]:
        """Facts about this reward worth keeping with every run (model, prompt-template version, scale …).

        Recorded once per run under ``rewards`` in ``trace.json``, so a result can be tied to what scored it.
        """
        return {}


class AsyncReward(Reward):
    """A reward whose candidates are scored by independent (remote) calls, run concurrently.

    Implement :meth:`score_candidate`; the base class scores all candidates of a batch concurrently, at most
    ``options.max_concurrency`` at a time. Raise :class:`f2g_core.errors.BudgetExceeded` from
    ``score_candidate`` to make the sampler stop guiding.
    """

    class Options(Component.Options):
        max_concurrency: int = Field(8, ge=1, description="Candidates scored at once by this reward.")

    async def score_candidate(self, batch: RewardBatch, index: int) -> float:
        """Score candidate ``index`` of ``batch``."""
        raise NotImplementedError

    def run_usage(self, run: int) -> Mapping[str, float] | None:
        """The :meth:`usage` counters of video run ``run`` alone, for rewards that keep them per run.

        A reward that does (keyed by ``RewardBatch.run``) has the batches of several videos sampled together
        scored at the same time, so one video's remote round trips overlap another's. None (the default): the
        counters are not kept per run, and the scorer sends this reward one video's batch at a time so that the
        difference of its totals is exactly what each video spent.
        """
        return None

    def _shared_limit(self) -> asyncio.Semaphore:
        """One semaphore per reward and event loop: concurrent batches (several videos) share the limit."""
        loop = asyncio.get_running_loop()
        limits: dict[int, asyncio.Semaphore] = self.__dict__.setdefault("_limits", {})
        if id(loop) not in limits:
            limits.clear()
            limits[id(loop)] = asyncio.Semaphore(int(getattr(self.options, "max_concurrency", 8)))
        return limits[id(loop)]

    async def ascore(self, batch: RewardBatch) -> list[float]:
        """Score every candidate concurrently under the reward's concurrency limit (shared by concurrent calls)."""
        limit = self._shared_limit()

        async def one(index: int) -> float:
            async with limit:
                return float(await self.score_candidate(batch, index))

        return list(await asyncio.gather(*(one(i) for i in range(len(batch)))))

    def score(self, batch: RewardBatch) -> Sequence[float]:
        """Synchronous entry point for callers outside an event loop."""
        return asyncio.run(self.ascore(batch))


# ------------------------------------------------------------------------------------------------- combiners


class Combiner(Component):
    """Turns the scores of several rewards into one score per candidate.

    ``scores`` maps each reward's name to an array of N scores (NaN = failed); ``weights`` maps the same names to
    the configured weights. The result has N entries; a candidate with any NaN input must come out NaN so that
    it can never win selection.
    """

    def combine(self, scores: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
        raise NotImplementedError


# ------------------------------------------------------------------------------------------------- backbones


@dataclass(frozen=True)
class Level:
    """One noise level of a schedule: x = alpha * x0 + sigma * noise, evaluated by the model at ``timestep``."""

    index: int
    timestep: float
    alpha: float
    sigma: float


@dataclass(frozen=True)
class Schedule:
    """The noise levels a sampler walks through, from pure noise (level 0) to clean (level T).

    ``timesteps`` has T entries (the model time at levels 0..T-1); ``alphas`` and ``sigmas`` have T+1 entries,
    with level T the clean sample (alpha=1, sigma=0). DDIM schedules are variance-preserving
    (alpha² + sigma² = 1); flow-matching schedules have alpha = 1 - sigma.
    """

    timesteps: tuple[float, ...]
    alphas: tuple[float, ...]
    sigmas: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.alphas) != len(self.timesteps) + 1 or len(self.sigmas) != len(self.alphas):
            raise ValueError("Schedule needs T timesteps and T+1 alphas and sigmas")
        if any(not math.isfinite(v) for v in (*self.alphas, *self.sigmas)):
            raise ValueError("Schedule alphas and sigmas must be finite")

    @property
    def num_steps(self) -> int:
        return len(self.timesteps)

    def level(self, index: int) -> Level:
        timestep = self.timesteps[index] if index < self.num_steps else 0.0
        return Level(index=index, timestep=timestep, alpha=self.alphas[index], sigma=self.sigmas[index])


@dataclass(frozen=True)
class MemoryEstimate:
    """Accelerator memory a run needs, by part, in bytes: what ``f2g generate --check`` prints and what
    ``guidance.chunk_size: auto`` sizes the candidate chunk with. An estimate (see the backbone's docs)."""

    weights: int
    """Resident weights while denoising (with offload: the largest part on the accelerator at once)."""
    per_row: int
    """Activations of one candidate in a denoiser call (both classifier-free-guidance rows counted)."""
    decode: int
    """Decoding one candidate's video."""

    def peak(self, chunk: int) -> int:
        """Peak for ``chunk`` candidates per denoiser call: weights plus the larger of denoising and decoding."""
        return self.weights + max(self.per_row * chunk, self.decode)


class Backbone(Component):
    """A text-to-video model the guided sampler can drive step by step.

    The sampler owns the loop and all randomness; the backbone supplies the pieces:
    prompt encoding, the schedule, a batched denoiser that returns x̂0 (classifier-free guidance inside),
    the stochastic transition, and a decoder that decodes only the frames asked for.
    """

    batched_conditioning: ClassVar[bool] = False
    """True when :meth:`stack_conditioning` is implemented: rows of several prompts then share denoiser calls
    (``Pipeline.generate_many``); otherwise each video's rows are denoised in their own calls."""

    def stack_conditioning(self, conds: Sequence[Any]) -> Any:
        """One conditioning for a batch whose row i is conditioned on ``conds[i]`` (results of encode_prompt).

        Denoising a row with the stacked conditioning must give what denoising it with ``conds[i]`` alone gives.
        """
        raise NotImplementedError(f"backbone {self.name!r} does not support batched conditioning")

    @property
    def device(self) -> torch.device:
        """Where latents live; the sampler draws noise on the CPU (reproducibility) and moves it here."""
        import torch

        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of latents and noise."""
        import torch

        return torch.float32

    @property
    def num_frames(self) -> int:
        """Frames in a decoded video; known before :meth:`load` (``f2g run --check`` validates key frames with it)."""
        raise NotImplementedError

    @property
    def fps(self) -> float | None:
        """Frames per second of decoded videos, as the model was trained to make them; None when unknown.

        Passed to rewards with every batch (:attr:`RewardBatch.fps`): video rewards that sample frames by time
        score the video at its real speed only with the real rate.
        """
        return None

    def latent_shape(self) -> tuple[int, ...]:
        """Shape of one sample's latents (no batch dimension)."""
        raise NotImplementedError

    def schedule(self, num_steps: int) -> Schedule:
        """The noise levels for ``num_steps`` sampling steps."""
        raise NotImplementedError

    def encode_prompt(self, prompt: str, negative_prompt: str | None, cfg_scale: float | None) -> Any:
        """Encode the prompt once per video; the result is passed back to :meth:`denoise` unchanged.

        ``cfg_scale`` None means the backbone's own default classifier-free guidance scale.
        """
        raise NotImplementedError

    def initial_latents(self, noise: torch.Tensor, schedule: Schedule) -> torch.Tensor:
        """Latents at level 0 from standard normal ``noise`` (batch, *latent_shape)."""
        return noise

    def denoise(self, latents: torch.Tensor, level: Level, cond: Any) -> torch.Tensor:
        """Predict the clean latents x̂0 of a batch of latents at ``level`` (model-output conversion inside)."""
        raise NotImplementedError

    def transition(
        self,
        latents: torch.Tensor,
        x0: torch.Tensor,
        src: Level,
        dst: Level,
        noise: torch.Tensor,
        eta: float,
    ) -> torch.Tensor:
        """Move latents from level ``src`` to ``dst`` given x̂0 and fresh noise (stochastic when eta > 0)."""
        return gaussian_step(latents, x0, src.alpha, src.sigma, dst.alpha, dst.sigma, eta, noise)

    def decode(self, x0: torch.Tensor, frame_indices: Sequence[int]) -> np.ndarray:
        """Decode only ``frame_indices`` of each sample: (N, len(frame_indices), H, W, 3) float32 in [0, 1]."""
        raise NotImplementedError

    def decode_video(self, x0: torch.Tensor) -> np.ndarray:
        """Decode whole videos: (N, num_frames, H, W, 3) float32 in [0, 1]."""
        return self.decode(x0, range(self.num_frames))

    def memory_estimate(self) -> MemoryEstimate | None:
        """Accelerator memory a run needs by part, or None when the backbone cannot tell (then ``chunk_size: auto``
        keeps every candidate in one call)."""
        return None

    @property
    def row_state(self) -> bool:
        """True when the denoiser keeps per-row state from one call to the next (a feature cache reusing the
        previous call's activations): the loop then says before every batch of calls which row each new row
        continues (:meth:`follow_rows`), so the state can follow the chains through selection and resampling."""
        return False

    def follow_rows(self, ancestors: np.ndarray) -> None:
        """Row i of the coming batch continues row ``ancestors[i]`` of the previous batch (a selected, resampled or
        duplicated chain; repeats allowed), or has no known ancestor where ``ancestors[i]`` is −1 (a new chain, or
        a method that asked to start afresh). Called only when :attr:`row_state` is True.

        The batch's rows then arrive in :meth:`denoise` calls in row order, possibly in several chunks; a call that
        was not announced (a contract test, a notebook) has no ancestors.
        """

    def draft_mode(self) -> AbstractContextManager[None] | None:
        """A context under which denoiser calls are cheaper approximations of the full ones (e.g. under a feature
        cache), for drafts that a full-quality pass then replaces (the ``draft`` method's ``draft_mode: backbone``);
        None when the backbone offers none."""
        return None
