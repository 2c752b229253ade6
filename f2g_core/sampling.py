"""The sampling loops: plain stochastic sampling, Free²Guide, and best-of-N.

One guided step, top to bottom (:func:`guided_step`): draw n noises → n candidate latents in one batched
transition → x̂0 of every candidate in batched, chunked denoiser calls → decode the key frames only → score with
every reward concurrently → combine → select → keep the chosen candidate's latents *and* its x̂0, so the next step
needs no model call. A guided run therefore costs exactly T + K·(n − 1) model calls.

All randomness comes from generators seeded by (seed, sample, step, candidate): candidate i of step k is the same
whatever n is, candidate 0 is the unguided transition, and n = 1 reproduces plain sampling bit for bit.
"""

from __future__ import annotations

import asyncio
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from f2g_core.config import GuidanceConfig, SamplerConfig
from f2g_core.errors import BudgetExceeded
from f2g_core.interfaces import AsyncReward, Backbone, Combiner, Level, Reward, RewardBatch, Schedule, StepInfo
from f2g_core.selection import select
from f2g_core.trace import RunTrace, StepRecord

Progress = Callable[[int, int], None]
_INIT = 2**31 - 1  # the "step" index used for initial noise
_SELECT = 1  # stream tag of selection randomness (noise uses 0)
_FINAL = 2**31 - 2  # the "step" index of best-of-N's final selection


def _seed_of(seed: int, sample: int, step: int, candidate: int, stream: int = 0) -> int:
    return int(np.random.SeedSequence([seed, sample, step, candidate, stream]).generate_state(1, np.uint64)[0])


def draw_noise(seed: int, sample: int, step: int, candidates: int, backbone: Backbone) -> torch.Tensor:
    """(candidates, *latent_shape) standard normal noise, each candidate from its own seeded CPU generator."""
    shape = backbone.latent_shape()
    noises = [
        torch.randn(shape, generator=torch.Generator().manual_seed(_seed_of(seed, sample, step, i)))
        for i in range(candidates)
    ]
    return torch.stack(noises).to(device=backbone.device, dtype=backbone.dtype)


def default_key_frames(num_frames: int, count: int = 4) -> list[int]:
    """``count`` evenly spaced frames including the first and last (0, 5, 10, 15 of 16, as in the paper)."""
    if num_frames <= count:
        return list(range(num_frames))
    return [round(i * (num_frames - 1) / (count - 1)) for i in range(count)]


@dataclass
class Scorer:
    """The rewards of a run, their weights and combiner, and the event loop async rewards run on."""

    rewards: Mapping[str, Reward]
    weights: Mapping[str, float]
    combiner: Combiner
    runner: asyncio.Runner

    def score(self, batch: RewardBatch, record: StepRecord, trace: RunTrace) -> np.ndarray:
        """Score a batch with every reward concurrently; fill the record; return the combined scores.

        A reward that raises scores NaN for every candidate (with a warning and a trace event), so one failing
        reward never loses the video. :class:`BudgetExceeded` propagates: the caller stops guiding.
        """
        before = {name: dict(reward.usage()) for name, reward in self.rewards.items()}
        with record.timed("reward"):
            results = self.runner.run(self._gather(batch))
        scores: dict[str, np.ndarray] = {}
        budget: BudgetExceeded | None = None
        for (name, reward), result in zip(self.rewards.items(), results, strict=True):
            if isinstance(result, BudgetExceeded):
                budget = result
                result = [math.nan] * len(batch)
            elif isinstance(result, BaseException):
                message = f"step {batch.step.index}: reward {name!r} failed: {type(result).__name__}: {result}"
                warnings.warn(message, stacklevel=2)
                trace.events.append(message)
                result = [math.nan] * len(batch)
            values = np.asarray(result, dtype=np.float64).reshape(-1)
            if values.shape != (len(batch),):
                raise ValueError(f"reward {name!r} returned {values.size} scores for {len(batch)} candidates")
            scores[name] = values
            after = reward.usage()
            record.usage[name] = {k: float(v) - before[name].get(k, 0.0) for k, v in after.items()}
        record.reward_calls += len(batch) * len(self.rewards)
        with record.timed("combine"):
            combined = np.asarray(self.combiner.combine(scores, self.weights), dtype=np.float64)
        record.set_scores(scores, combined)
        if budget is not None:
            raise budget
        return combined

    async def _gather(self, batch: RewardBatch) -> list[Any]:
        async def one(reward: Reward) -> Sequence[float]:
            if isinstance(reward, AsyncReward):
                return await reward.ascore(batch)
            return await asyncio.to_thread(reward.score, batch)

        return await asyncio.gather(*(one(r) for r in self.rewards.values()), return_exceptions=True)


def denoise_chunked(
    backbone: Backbone, latents: torch.Tensor, level: Level, cond: Any, chunk: int | None
) -> torch.Tensor:
    """x̂0 of a batch, at most ``chunk`` samples per denoiser call (memory), concatenated."""
    if chunk is None or latents.shape[0] <= chunk:
        return backbone.denoise(latents, level, cond)
    return torch.cat([backbone.denoise(part, level, cond) for part in latents.split(chunk)])


@dataclass
class Job:
    """What one sampling run needs besides the latents."""

    backbone: Backbone
    cond: Any
    schedule: Schedule
    prompt: str
    seed: int
    sampler: SamplerConfig
    guidance: GuidanceConfig
    key_frames: list[int]
    trace: RunTrace
    scorer: Scorer | None = None
    progress: Progress | None = None

    def total_steps(self) -> int:
        """Sampling steps the whole job runs (N chains for best-of-N), for progress bars."""
        samples = self.guidance.num_candidates if self.guidance.method == "best-of-n" else 1
        return samples * self.schedule.num_steps


def key_frame_batch(job: Job, x0: torch.Tensor, step: StepInfo, record: StepRecord) -> RewardBatch:
    """Decode only the key frames of every sample in ``x0`` (timed and counted in ``record``) for the rewards."""
    with record.timed("decode"):
        frames = job.backbone.decode(x0, job.key_frames)
        record.frames_decoded += x0.shape[0] * len(job.key_frames)
    return RewardBatch(
        prompt=job.prompt,
        frames=np.asarray(frames, dtype=np.float32),
        frame_indices=tuple(job.key_frames),
        num_frames=job.backbone.num_frames,
        step=step,
    )


def guided_step(
    job: Job, x: torch.Tensor, x0: torch.Tensor, k: int, record: StepRecord
) -> tuple[torch.Tensor, torch.Tensor]:
    """One Free²Guide step from level k: returns the chosen candidate's latents at level k+1 and its x̂0."""
    assert job.scorer is not None
    backbone, guidance = job.backbone, job.guidance
    n = guidance.num_candidates
    src, dst = job.schedule.level(k), job.schedule.level(k + 1)
    record.guided, record.num_candidates = True, n
    with record.timed("transition"):
        noise = draw_noise(job.seed, 0, k, n, backbone)
        shape = (n, *x.shape[1:])
        candidates = backbone.transition(x.expand(shape), x0.expand(shape), src, dst, noise, job.sampler.eta)
    with record.timed("denoise"):
        candidate_x0 = denoise_chunked(backbone, candidates, dst, job.cond, guidance.chunk_size)
        record.model_calls += n
    step = StepInfo(index=k, num_steps=job.schedule.num_steps, timestep=float(dst.timestep))
    batch = key_frame_batch(job, candidate_x0, step, record)
    try:
        combined = job.scorer.score(batch, record, job.trace)
    except BudgetExceeded as stop:
        job.scorer = None  # guidance stops for the rest of the run; sampling finishes unguided
        message = f"step {k}: reward budget exhausted ({stop}); guidance stopped, the video finishes unguided"
        warnings.warn(message, stacklevel=2)
        job.trace.events.append(message)
        record.fallback = "budget exhausted: unguided transition"
        chosen = 0
    else:
        rng = np.random.default_rng(_seed_of(job.seed, 0, k, 0, _SELECT))
        picked = select(combined, guidance.selection, guidance.temperature, rng)
        if picked is None:
            record.fallback = "every candidate failed to score: unguided transition"
            job.trace.events.append(f"step {k}: {record.fallback}")
        chosen = 0 if picked is None else picked  # candidate 0 carries the unguided noise: the plain transition
    record.chosen = chosen
    return candidates[chosen : chosen + 1], candidate_x0[chosen : chosen + 1]


def run_chain(job: Job, sample: int = 0, guided: range = range(0)) -> torch.Tensor:
    """Sample one video's latents from noise to clean, guiding the steps in ``guided``; returns level-T latents."""
    backbone, schedule = job.backbone, job.schedule
    x = backbone.initial_latents(draw_noise(job.seed, sample, _INIT, 1, backbone), schedule)
    x0: torch.Tensor | None = None
    for k in range(schedule.num_steps):
        src, dst = schedule.level(k), schedule.level(k + 1)
        record = StepRecord(step=k, timestep=float(src.timestep))
        if x0 is None:
            with record.timed("denoise"):
                x0 = backbone.denoise(x, src, job.cond)
                record.model_calls += 1
        if k in guided and job.scorer is not None and k < schedule.num_steps - 1:
            x, x0 = guided_step(job, x, x0, k, record)
        else:
            with record.timed("transition"):
                noise = draw_noise(job.seed, sample, k, 1, backbone)
                x = backbone.transition(x, x0, src, dst, noise, job.sampler.eta)
            x0 = None
        job.trace.steps.append(record)
        if job.progress is not None:
            job.progress(len(job.trace.steps), job.total_steps())
    return x


def best_of_n(job: Job) -> torch.Tensor:
    """The baseline: N whole samples (sample 0 is the plain one), scored when finished; returns the best."""
    assert job.scorer is not None
    n = job.guidance.num_candidates
    finals = torch.cat([run_chain(job, sample=j) for j in range(n)])
    record = StepRecord(step=-1, timestep=0.0, guided=True, num_candidates=n)
    batch = key_frame_batch(job, finals, StepInfo.final(job.schedule.num_steps), record)
    try:
        combined = job.scorer.score(batch, record, job.trace)
        rng = np.random.default_rng(_seed_of(job.seed, 0, _FINAL, 0, _SELECT))
        chosen = select(combined, job.guidance.selection, job.guidance.temperature, rng)
    except BudgetExceeded as stop:
        job.trace.events.append(f"best-of-n: reward budget exhausted ({stop}); keeping sample 0")
        chosen = None
    if chosen is None:
        record.fallback = "no sample could be scored: keeping sample 0"
        chosen = 0
    record.chosen = chosen
    job.trace.final = record
    return finals[chosen : chosen + 1]


def sample(job: Job) -> torch.Tensor:
    """Run the method the guidance config names; returns clean latents (1, *latent_shape)."""
    with torch.inference_mode():
        if job.guidance.method == "best-of-n":
            return best_of_n(job)
        return run_chain(job, guided=job.guidance.guided_steps)
