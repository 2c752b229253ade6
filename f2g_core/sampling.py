"""The population loop: the toolbox sampler methods use, the observer that writes the trace, and the loop itself.

A run is one or more videos (prompt, seed) sampled in lockstep with one :class:`~f2g_core.population.Sampler`.
:func:`run` asks the method for its initial population, then for one :class:`~f2g_core.population.Step` per
sampling step, then for its final choice, and checks each (:func:`check_step`). The method works through
:class:`Tools`, the loop's implementation of :class:`~f2g_core.population.Toolbox`:

* :meth:`Tools.start`, :meth:`Tools.plain`, :meth:`Tools.propose`: initial noise, the plain transition, n candidate
  transitions per row with their Tweedie x̂0, all in batched, chunked, counted denoiser calls;
* :meth:`Tools.lookahead`: a sharper x̂0 from a few deterministic sub-steps (DLBS);
* :meth:`Tools.score`: decode only the key frames, score with every reward concurrently, combine within each video
  (:meth:`Tools.score_candidates` and :meth:`Tools.score_finished` for what methods score);
* :meth:`Tools.keep_best`, :meth:`Tools.resample`: the selections methods share;
* :meth:`Tools.rng`: keyed generators for selection and resampling (see :mod:`f2g_core.randomness`).

Costs are counted where they happen, per video, into that step's record; the :class:`Observer` adds what the
method decided (parents, chosen candidates, effective sample size) and appends the records to each video's trace.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from f2g_core.errors import ComponentError, F2GError
from f2g_core.interfaces import Backbone, RewardBatch, Schedule, StepInfo
from f2g_core.population import Candidates, Population, Sampler, Step, groups, slots_of
from f2g_core.randomness import FINAL_STEP, INIT_STEP, keyed_noise, keyed_rng
from f2g_core.scoring import Scorer
from f2g_core.selection import effective_sample_size, resample, select
from f2g_core.trace import RunTrace, StepRecord

Progress = Callable[[int, int], None]


def default_key_frames(num_frames: int, count: int = 4) -> list[int]:
    """``count`` evenly spaced frames including the first and last (0, 5, 10, 15 of 16, as in the paper)."""
    if num_frames <= count:
        return list(range(num_frames))
    return [round(i * (num_frames - 1) / (count - 1)) for i in range(count)]


def draw_noise(seed: int, chain: int, step: int, candidates: int, backbone: Backbone) -> torch.Tensor:
    """(candidates, *latent_shape) noise of one chain at one step, keyed (seed, chain, step, candidate)."""
    keys = [(seed, chain, step, i) for i in range(candidates)]
    return keyed_noise(keys, backbone.latent_shape(), backbone.device, backbone.dtype)


def denoise_chunked(
    backbone: Backbone, latents: torch.Tensor, level: Any, cond: Any, chunk: int | None
) -> torch.Tensor:
    """x̂0 of a batch, at most ``chunk`` samples per denoiser call (memory), concatenated."""
    if chunk is None or latents.shape[0] <= chunk:
        return backbone.denoise(latents, level, cond)
    return torch.cat([backbone.denoise(part, level, cond) for part in latents.split(chunk)])


def decode_chunked(backbone: Backbone, x0: torch.Tensor, frames: Sequence[int] | None, chunk: int | None) -> np.ndarray:
    """Decode ``frames`` (None: all) of every sample, at most ``chunk`` samples per decoder call, float32."""
    parts = [x0] if chunk is None else list(x0.split(chunk))
    decode = backbone.decode_video if frames is None else (lambda part: backbone.decode(part, frames))
    return np.concatenate([np.asarray(decode(part), dtype=np.float32) for part in parts])


ROW_STATE = "row_state"
"""Memo key of the labels tying each row to a row of the backbone's last denoiser batch, kept only for backbones
with per-row state (:attr:`Backbone.row_state`): reindexed with the rows like any memo, so a selected, resampled or
duplicated chain still knows which row of the backbone's cached state it continues."""

AUTO_HEADROOM = 0.9
"""Share of the free accelerator memory ``chunk_size: auto`` fills (allocator fragmentation, the reward models)."""


def free_accelerator_memory(device: torch.device) -> int | None:
    """Free bytes on a CUDA device, or None elsewhere (the CPU keeps every candidate in one call)."""
    if device.type != "cuda":
        return None
    return int(torch.cuda.mem_get_info(device)[0])


def auto_chunk_size(backbone: Backbone) -> tuple[int | None, str]:
    """The most candidates per denoiser call that fit the free memory by the backbone's estimate, and why.

    Called once the weights are loaded and the prompts encoded, so the free memory already excludes them."""
    free = free_accelerator_memory(backbone.device)
    estimate = backbone.memory_estimate() if free is not None else None
    if free is None or estimate is None or estimate.per_row <= 0:
        return None, "chunk_size auto: no accelerator memory budget here; all candidates in one call"
    chunk = max(1, int(free * AUTO_HEADROOM) // estimate.per_row)
    return chunk, (
        f"chunk_size auto: {chunk} candidates per call ({free / 2**30:.1f} GiB free, "
        f"{estimate.per_row / 2**20:.0f} MiB per candidate)"
    )


@dataclass
class Video:
    """One video of a run: what it is conditioned on, its seed, and the trace its records go to."""

    prompt: str
    seed: int
    cond: Any
    trace: RunTrace
    run: int = 0
    """Id of this video's run, unique per pipeline: rewards scope usage and budgets by it."""


class Tools:
    """The loop's :class:`~f2g_core.population.Toolbox`: model calls, scoring, selection and keyed randomness,
    each counted per video into the current step's record."""

    def __init__(
        self,
        backbone: Backbone,
        schedule: Schedule,
        videos: Sequence[Video],
        eta: float,
        key_frames: Sequence[int],
        chunk_size: int | str | None = None,
        scorer: Scorer | None = None,
    ) -> None:
        self.backbone, self.schedule, self.videos = backbone, schedule, list(videos)
        self.eta, self.key_frames, self.scorer = eta, list(key_frames), scorer
        self.chunk_size: int | None
        if chunk_size == "auto":
            self.chunk_size, note = auto_chunk_size(backbone)
            for video in self.videos:
                video.trace.events.append(note)
        else:
            self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.records: dict[int, StepRecord] = {}
        self.where = "at its start"
        """Where the loop is (``at step 7``), for error messages."""
        self.key_step = INIT_STEP
        """The step word of the selection generators (:meth:`keep_best`, :meth:`resample`): the step index, or
        ``INIT_STEP`` / ``FINAL_STEP`` for the initial population and the final choice."""
        self.state_rows: np.ndarray | None = None
        """Labels of the rows of the backbone's last denoiser batch (backbones with per-row state only)."""
        self._labels = itertools.count()

    @property
    def num_steps(self) -> int:
        return self.schedule.num_steps

    @property
    def num_videos(self) -> int:
        return len(self.videos)

    @property
    def guiding(self) -> bool:
        """False once guidance has stopped for every video (no rewards, or budgets ran out): sample plainly.

        While some videos of a batch are still guided, the stopped ones ride along and score NaN, which every
        method turns into its plain choice (candidate 0, no resampling).
        """
        if self.scorer is None:
            return False
        return any(video.run not in self.scorer.stopped for video in self.videos)

    # -------------------------------------------------------------------------------------------- model calls

    def denoise(self, x: torch.Tensor, level: int, video: np.ndarray, labels: np.ndarray | None = None) -> torch.Tensor:
        """x̂0 of rows ``x`` (of videos ``video``) at schedule level ``level``; counted, chunked by ``chunk_size``.

        At the clean level x̂0 is x itself (no call). Rows of different videos share a denoiser call only when the
        backbone supports batched conditioning; otherwise each video's rows go separately. ``labels`` (the rows'
        ``memo[ROW_STATE]``) say which row of the previous batch each row continues, for backbones with per-row
        state; afterwards :attr:`state_rows` labels this batch's rows (see :meth:`_follow`).
        """
        if level >= self.num_steps:
            return x
        for v, rows in groups(video):
            self.records[v].model_calls += len(rows)
        with self._timed(video, "denoise"), self._backbone():
            try:
                return self._denoise(x, level, video, labels)
            except torch.OutOfMemoryError:
                chunk = self.chunk_size or len(x)
                if chunk <= 1:
                    raise
                self.chunk_size = chunk // 2  # kept for the rest of the run; a second failure propagates
                if x.device.type == "cuda":
                    torch.cuda.empty_cache()
                for v, _ in groups(video):
                    self.videos[v].trace.events.append(
                        f"level {level}: out of memory at {chunk} samples per denoiser call; "
                        f"retried with {self.chunk_size}"
                    )
                return self._denoise(x, level, video, labels)

    def _denoise(self, x: torch.Tensor, level: int, video: np.ndarray, labels: np.ndarray | None) -> torch.Tensor:
        """One attempt at :meth:`denoise` with the current chunk size."""
        if self.backbone.row_state:
            self._follow(labels, len(x))
        if len(self.videos) == 1 or len(set(video.tolist())) == 1:
            return denoise_chunked(
                self.backbone, x, self.schedule.level(level), self.videos[int(video[0])].cond, self.chunk_size
            )
        if self.backbone.batched_conditioning:
            return self._denoise_mixed(x, level, video)
        out = torch.empty_like(x)
        for v, rows in groups(video):
            index = torch.as_tensor(rows, device=x.device)
            out[index] = denoise_chunked(
                self.backbone, x[index], self.schedule.level(level), self.videos[v].cond, self.chunk_size
            )
        return out

    def _follow(self, labels: np.ndarray | None, rows: int) -> None:
        """Tell the backbone which row of its last batch each coming row continues, then label the coming rows:
        rows with distinct labels keep them (the same chains, one level on: :meth:`with_x0`, :meth:`lookahead`),
        others (candidates sharing a parent, resampled copies, new chains) get fresh ones."""
        known = {} if self.state_rows is None else {int(label): row for row, label in enumerate(self.state_rows)}
        given = labels is not None and len(labels) == rows
        ancestors = [known.get(int(label), -1) for label in labels] if given else [-1] * rows  # type: ignore[union-attr]
        self.backbone.follow_rows(np.asarray(ancestors, dtype=np.int64))
        if given and len(set(labels.tolist())) == rows:  # type: ignore[union-attr]
            self.state_rows = np.asarray(labels, dtype=np.int64)
        else:
            self.state_rows = np.fromiter(itertools.islice(self._labels, rows), dtype=np.int64, count=rows)

    def forget_rows(self) -> None:
        """Start the backbone's per-row state afresh at the next denoiser call (a method asks where what came
        before should not carry over, e.g. between cheap drafts and full-quality commits)."""
        self.state_rows = None

    def _rows(self, population: Population) -> np.ndarray | None:
        """The population's row-state labels, when the backbone keeps per-row state and the rows carry them."""
        return population.memo.get(ROW_STATE) if self.backbone.row_state else None

    def _labelled(self, memo: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``memo`` with the labels of the backbone's last batch (rows in the same order), where it keeps row state."""
        if not self.backbone.row_state or self.state_rows is None:
            return memo
        return {**memo, ROW_STATE: self.state_rows}

    def _denoise_mixed(self, x: torch.Tensor, level: int, video: np.ndarray) -> torch.Tensor:
        """Several videos' rows in one call per chunk, each row with its own prompt's conditioning."""
        chunk = self.chunk_size or len(x)
        parts = []
        for begin in range(0, len(x), chunk):
            rows = video[begin : begin + chunk]
            cond = self.backbone.stack_conditioning([self.videos[int(v)].cond for v in rows])
            parts.append(self.backbone.denoise(x[begin : begin + chunk], self.schedule.level(level), cond))
        return torch.cat(parts)

    def _noise(self, video: np.ndarray, chains: np.ndarray, step: int, candidate: np.ndarray) -> torch.Tensor:
        keys = [
            (self.videos[int(v)].seed, int(c), step, int(i)) for v, c, i in zip(video, chains, candidate, strict=True)
        ]
        return keyed_noise(keys, self.backbone.latent_shape(), self.backbone.device, self.backbone.dtype)

    def start(self, chains: int, pinned: bool = False) -> Step:
        """``chains`` chains of initial noise per video; chain c of a video is keyed (seed, c, INIT, 0) and, when
        ``pinned``, keeps drawing chain c's noise (``memo["slot"]``; see :meth:`f2g_core.population.Toolbox.start`)."""
        video = np.repeat(np.arange(len(self.videos)), chains)
        slots = slots_of(video)
        noise = self._noise(video, slots, INIT_STEP, np.zeros_like(video))
        with self._backbone():
            x = self.backbone.initial_latents(noise, self.schedule)
        memo = {"slot": slots.copy()} if pinned else {}
        return Step(Population(x=x, x0=None, video=video, chain=slots, memo=memo), parents=np.arange(len(video)))

    def initial_candidates(self, n: int) -> Candidates:
        """n initial noises per video (candidate 0 is the plain one), with their x̂0 at level 0 (n calls)."""
        video = np.repeat(np.arange(len(self.videos)), n)
        index = np.tile(np.arange(n), len(self.videos))
        noise = self._noise(video, np.zeros_like(video), INIT_STEP, index)
        with self._backbone():
            x = self.backbone.initial_latents(noise, self.schedule)
        x0 = self.denoise(x, 0, video)
        population = Population(x=x, x0=x0, video=video, chain=np.zeros_like(video), memo=self._labelled({}))
        return Candidates(population, parent=np.repeat(np.arange(len(self.videos)), n), index=index)

    def with_x0(self, population: Population, k: int) -> Population:
        """The population with x̂0 at level ``k`` filled in (one counted call per row when not yet known)."""
        if population.x0 is not None:
            return population
        x0 = self.denoise(population.x, k, population.video, self._rows(population))
        memo = self._labelled(population.memo) if k < self.num_steps else population.memo
        return Population(population.x, x0, population.video, population.chain, memo)

    def propose(self, population: Population, k: int, n: int, first: int = 0) -> Candidates:
        """n candidate transitions per row from level k to k+1, with their x̂0 at k+1 (rows·n calls).

        Candidate i of the row in slot c of its video uses the noise keyed (seed, c, k, i): candidate 0 is the plain
        transition, and a candidate's noise does not depend on n or on the other rows. ``first`` numbers the
        candidates first … first + n − 1 (more candidates for rows that already have some).
        """
        population = self.with_x0(population, k)
        assert population.x0 is not None
        rows = len(population)
        parent = np.repeat(np.arange(rows), n)
        index = np.tile(np.arange(first, first + n), rows)
        video = population.video[parent]
        with self._timed(video, "transition"), self._backbone():
            noise = self._noise(video, population.slots()[parent], k, index)
            take = torch.as_tensor(parent, device=population.x.device)
            x = self.backbone.transition(
                population.x[take],
                population.x0[take],
                self.schedule.level(k),
                self.schedule.level(k + 1),
                noise,
                self.eta,
            )
        memo = {key: value[parent] for key, value in population.memo.items()}
        x0 = self.denoise(x, k + 1, video, memo.get(ROW_STATE) if self.backbone.row_state else None)
        if k + 1 < self.num_steps:
            memo = self._labelled(memo)
        return Candidates(Population(x, x0, video, population.chain[parent], memo), parent, index)

    def plain(self, population: Population, k: int, eta: float | None = None) -> Step:
        """The unguided transition of every row (candidate-0 noise); x̂0 of the result is left for the next step.

        ``eta`` overrides the sampler's stochasticity for this transition (0: deterministic).
        """
        population = self.with_x0(population, k)
        assert population.x0 is not None
        with self._timed(population.video, "transition"), self._backbone():
            noise = self._noise(population.video, population.slots(), k, np.zeros(len(population), dtype=np.int64))
            x = self.backbone.transition(
                population.x,
                population.x0,
                self.schedule.level(k),
                self.schedule.level(k + 1),
                noise,
                self.eta if eta is None else eta,
            )
        moved = Population(x, None, population.video, population.chain, population.memo)
        return Step(moved, parents=np.arange(len(population)))

    def lookahead(self, candidates: Population, level: int, steps: int) -> torch.Tensor:
        """x̂0 of candidates at ``level`` refined by ``steps`` deterministic (eta = 0) sub-steps towards clean.

        The sub-steps visit ``steps`` further levels evenly spaced between ``level`` and the clean end and cost one
        call per candidate each; 0 returns the Tweedie x̂0 unchanged (the paper).
        """
        assert candidates.x0 is not None
        if steps == 0 or level >= self.num_steps:
            return candidates.x0
        levels = [round(v) for v in np.linspace(level, self.num_steps, steps + 2)[:-1]]
        x, x0, labels = candidates.x, candidates.x0, self._rows(candidates)
        with self._timed(candidates.video, "lookahead"), self._backbone():
            for src, dst in itertools.pairwise(levels):
                zero = torch.zeros_like(x)  # eta = 0 adds no noise
                x = self.backbone.transition(x, x0, self.schedule.level(src), self.schedule.level(dst), zero, 0.0)
                x0 = self.denoise(x, dst, candidates.video, labels)
                labels = self.state_rows  # each sub-step continues the rows of the one before
        return x0

    # -------------------------------------------------------------------------------------------- scoring

    def score(self, x0: torch.Tensor, video: np.ndarray, step: int) -> np.ndarray:
        """Combined scores of rows ``x0`` (NaN = could not be scored), each video's rows scored as one group.

        Only the key frames are decoded. Rows of a video whose guidance has stopped come back NaN, unscored.
        """
        combined = np.full(len(video), math.nan)
        if self.scorer is None:
            return combined
        final = step >= self.num_steps
        info = StepInfo.final(self.num_steps) if final else StepInfo(step, self.num_steps, self._timestep(step))
        live = []
        for v, rows in groups(video):
            record, run = self.records[v], self.videos[v].run
            record.guided = True
            if run in self.scorer.stopped:
                record.fallback = record.fallback or f"guidance stopped: {self.scorer.stopped[run]}"
            else:
                live.append((v, rows))
        if not live:
            return combined
        wanted = np.concatenate([rows for _, rows in live])
        with self._timed(video[wanted], "decode"), self._backbone():  # every video's key frames in the same calls
            index = torch.as_tensor(wanted, device=x0.device)
            decoded = decode_chunked(self.backbone, x0[index], self.key_frames, self.chunk_size)
        batches, offset = [], 0
        for v, rows in live:
            frames, offset = decoded[offset : offset + len(rows)], offset + len(rows)
            self.records[v].frames_decoded += len(rows) * len(self.key_frames)
            batches.append(
                RewardBatch(
                    prompt=self.videos[v].prompt,
                    frames=frames,
                    frame_indices=tuple(self.key_frames),
                    num_frames=self.backbone.num_frames,
                    step=info,
                    run=self.videos[v].run,
                    fps=self.backbone.fps,
                )
            )
        with self._timed(video[wanted], "reward"):  # every video's batch at once (remote calls overlap)
            every = self.scorer.score(batches)
        for (v, rows), scored in zip(live, every, strict=True):
            record, run = self.records[v], self.videos[v].run
            record.reward_calls += len(rows) * (len(scored.scores) - len(scored.refused))  # refused: no calls
            record.reward_rounds += 1
            record.add_scores(scored.scores, scored.combined, scored.usage)
            self.videos[v].trace.events.extend(scored.problems)
            combined[rows] = scored.combined
            if run in self.scorer.stopped:
                message = f"step {step}: guidance stopped ({self.scorer.stopped[run]}); the video finishes unguided"
                warnings.warn(message, stacklevel=3)
                self.videos[v].trace.events.append(message)
                record.fallback = "budget exhausted: unguided"
            elif not np.isfinite(scored.combined).any():
                record.fallback = "every candidate failed to score: unguided"
                self.videos[v].trace.events.append(f"step {step}: {record.fallback}")
        return combined

    def score_candidates(self, candidates: Candidates, k: int, lookahead: int = 0) -> np.ndarray:
        """Combined scores of candidates proposed at step ``k``, from their x̂0 at k + 1 sharpened by ``lookahead``
        deterministic sub-steps (0: the Tweedie x̂0, no extra call)."""
        pool = candidates.population
        return self.score(self.lookahead(pool, k + 1, lookahead), pool.video, k)

    def score_finished(self, population: Population) -> np.ndarray:
        """Combined scores of finished chains (clean latents: x̂0 is x, no model call)."""
        return self.score(population.x, population.video, self.num_steps)

    # -------------------------------------------------------------------------------------------- selection

    def keep_best(
        self,
        pool: Candidates | Population,
        scores: np.ndarray,
        keep: int = 1,
        selection: Literal["argmax", "soft"] = "argmax",
        temperature: float = 1.0,
    ) -> Step:
        """Per video, the ``keep`` best rows of ``pool`` (see :meth:`f2g_core.population.Toolbox.keep_best`)."""
        population = pool.population if isinstance(pool, Candidates) else pool
        plain = pool.index == 0 if isinstance(pool, Candidates) else np.ones(len(population), dtype=bool)
        if keep > 1 and selection != "argmax":
            raise ValueError(f"keep_best: keep={keep} rows per video needs selection='argmax', not {selection!r}")
        picks = []
        for v, mine in groups(population.video):
            if keep == 1:
                chosen = select(scores[mine], selection, temperature, self.rng(v, self.key_step))
                picks.append(mine[[0 if chosen is None else chosen]])
            elif not np.isfinite(scores[mine]).any():  # nothing scored: the plain rows go on
                picks.append(mine[plain[mine]][:keep])
            else:  # the top ``keep``, NaN last, ties to the lower row, in row order
                order = np.argsort(-np.where(np.isfinite(scores[mine]), scores[mine], -np.inf), kind="stable")
                picks.append(np.sort(mine[order[:keep]]))
        return pool.select(np.concatenate(picks))

    def resample(
        self,
        pool: Candidates,
        log_weights: np.ndarray,
        scheme: Literal["multinomial", "systematic", "ssp"] = "systematic",
        size: int | None = None,
        ess_threshold: float = 1.0,
    ) -> Step:
        """Per video, rows drawn ∝ the weights when its ESS is low (see
        :meth:`f2g_core.population.Toolbox.resample`)."""
        picks, ess, resampled = [], {}, {}
        for v, mine in groups(pool.population.video):
            count = len(mine) if size is None else size
            ess[v] = effective_sample_size(log_weights[mine])
            low = ess[v] < ess_threshold * len(mine) or count < len(mine)
            resampled[v] = bool(np.isfinite(log_weights[mine]).any() and low)
            drawn = resample(log_weights[mine], scheme, self.rng(v, self.key_step), count) if resampled[v] else None
            picks.append(mine[:count] if drawn is None else mine[drawn])
        step = pool.select(np.concatenate(picks))
        step.ess, step.resampled = ess, resampled
        return step

    def _timestep(self, level: int) -> float:
        return float(self.schedule.level(level).timestep)

    def rng(self, video: int, k: int, chain: int = 0) -> np.random.Generator:
        """The selection / resampling generator of one video at step ``k`` (``FINAL_STEP`` for final choices)."""
        return keyed_rng(self.videos[video].seed, chain, k)

    def _timed(self, video: np.ndarray, phase: str) -> AbstractContextManager[None]:
        return _timed_all([self.records[v] for v, _ in groups(video)], phase)

    def _backbone(self) -> AbstractContextManager[None]:
        return blame(f"backbone {self.backbone.name!r} failed {self.where}")


@contextmanager
def blame(context: str) -> Iterator[None]:
    """Turn an unexpected exception of a component into a one-line :class:`ComponentError` starting with
    ``context`` (which names the component), so the user learns which component broke, not only how."""
    try:
        yield
    except F2GError:
        raise
    except Exception as error:
        raise ComponentError(f"{context}: {type(error).__name__}: {error}") from error


@contextmanager
def _timed_all(records: list[StepRecord], phase: str) -> Iterator[None]:
    """Add a block's wall time to ``phase`` of every record given (a shared batch is timed for each video)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        for record in records:
            record.seconds[phase] = record.seconds.get(phase, 0.0) + time.perf_counter() - started


class Observer:
    """Writes what a method step decided into each video's record and appends the records to the traces."""

    def __init__(self, tools: Tools, progress: Progress | None = None) -> None:
        self.tools, self.progress = tools, progress
        self.previous = np.arange(len(tools.videos))  # the video of each row of the previous population
        self.open = False  # whether the current records are not in the traces yet

    def begin(self, step: int, phase: str = "step") -> None:
        timestep = self.tools._timestep(step) if 0 <= step < self.tools.num_steps else 0.0
        self.tools.key_step = {"initial": INIT_STEP, "final": FINAL_STEP}.get(phase, step)
        self.tools.records = {
            v: StepRecord(step=step, timestep=timestep, phase=phase) for v in range(len(self.tools.videos))
        }
        self.open = True

    def fail(self, error: BaseException) -> None:
        """Close every video's trace at the step that raised ``error``: that step's record (what it had spent) is
        appended and :attr:`RunTrace.failure` names the step, so the trace so far can be saved, marked failed."""
        for v, record in self.tools.records.items():
            trace = self.tools.videos[v].trace
            if self.open and record.phase == "final":
                trace.final = record
            elif self.open:
                trace.steps.append(record)
            trace.fail(record.step, record.phase, self.tools.where, error)
        self.open = False

    def end(self, result: Step) -> None:
        self.open = False
        population = result.population
        first = {v: int(rows[0]) for v, rows in groups(self.previous)}
        chosen = chosen_candidates(result)
        for v, rows in groups(population.video):
            record = self.tools.records[v]
            record.parents = [int(p) - first.get(v, 0) for p in result.parents[rows]]
            record.chains = [int(c) for c in population.chain[rows]]
            if chosen is not None:
                record.selected = [int(c) for c in chosen[rows]]
                record.chosen = record.selected[0] if len(rows) == 1 else None
            if result.ess is not None and v in result.ess:
                record.ess = float(result.ess[v])
            if result.resampled is not None and v in result.resampled:
                record.resampled = bool(result.resampled[v])
            record.decided = record.guided and any(c is not None for c in record.combined)
            trace = self.tools.videos[v].trace
            if record.phase == "final":
                trace.final = record
            elif record.phase == "step" or record.guided:
                trace.steps.append(record)
        self.previous = population.video
        current = next(iter(self.tools.records.values()))
        if self.progress is not None and current.phase == "step":
            self.progress(current.step + 1, self.tools.num_steps)


def chosen_candidates(step: Step) -> np.ndarray | None:
    """For every row of ``step``'s population, its index among its video's candidates the step selected from (its
    position among that video's rows of the pool, which is the order they were scored in: an index into the step
    record's ``combined``); None when the step selected nothing. The one meaning of ``chosen`` in traces."""
    if step.picked is None or step.pool_video is None:
        return None
    return slots_of(np.asarray(step.pool_video))[np.asarray(step.picked)]


def run(sampler: Sampler, tools: Tools, progress: Progress | None = None) -> torch.Tensor:
    """Sample every video of ``tools`` with ``sampler``; returns clean latents (videos, *latent_shape).

    Every step the method returns is checked before it is used (:func:`check_step`): a malformed step or an
    exception of the method fails as a :class:`ComponentError` naming the sampler, and latents that stop being
    finite fail naming the backbone and the step, instead of a black video. Whatever fails, each video's trace
    is closed at the failing step first (:attr:`~f2g_core.trace.RunTrace.failure`), for the caller to keep.
    """
    observer = Observer(tools, progress)
    try:
        return _run(sampler, tools, observer)
    except Exception as error:  # the traces say where it failed (Ctrl-C is no failure: nothing is kept)
        observer.fail(error)
        raise


def _run(sampler: Sampler, tools: Tools, observer: Observer) -> torch.Tensor:
    """:func:`run`'s loop: start, every step, finish, each checked, each recorded by ``observer``."""
    with torch.inference_mode():
        observer.begin(-1, "initial")
        tools.where = "at its start"
        step = check_step(sampler, tools, _call(sampler, "start", tools), None)
        observer.end(step)
        population = step.population
        for k in range(tools.num_steps):
            observer.begin(k)
            tools.where = f"at step {k} of {tools.num_steps}"
            step = check_step(sampler, tools, _call(sampler, "step", tools, population, k), observer.previous)
            observer.end(step)
            population = step.population
        observer.begin(-1, "final")
        tools.where = "at its finish"
        step = check_step(sampler, tools, _call(sampler, "finish", tools, population), observer.previous)
        if len(step.population) < len(population) or any(record.guided for record in tools.records.values()):
            observer.end(step)  # a final choice among chains was made
        population = step.population
    if not np.array_equal(population.video, np.arange(len(tools.videos))):
        raise ComponentError(
            f"sampler {sampler.name!r} finished with {len(population)} rows (videos {population.video.tolist()}) "
            f"for {len(tools.videos)} videos; its finish() must keep exactly one row per video, in order"
        )
    return population.x


def _call(sampler: Sampler, method: str, *args: Any) -> Any:
    """``sampler.<method>(*args)``; an unexpected exception of the method is blamed on the sampler by name."""
    with blame(f"sampler {sampler.name!r} failed in {method}() {args[0].where}"):
        return getattr(sampler, method)(*args)


def check_step(sampler: Sampler, tools: Tools, result: object, previous: np.ndarray | None) -> Step:
    """``result`` if it is a well-formed step of ``sampler`` from a population whose rows belong to the videos
    ``previous`` (None for the initial population, which has no ancestors); else a :class:`ComponentError` naming
    the sampler and the problem.

    Checked: the type, one video, chain and parent per row (and x̂0 and memo rows, when given), rows grouped by video
    in order, the same number of rows for every video, every parent a row of the same video, every picked row a row
    of the pool of the same video, and finite latents. O(rows): nothing next to one denoiser call.
    """

    def fail(problem: str) -> ComponentError:
        return ComponentError(f"sampler {sampler.name!r} returned a malformed step {tools.where}: {problem}")

    if not isinstance(result, Step) or not isinstance(result.population, Population):
        got = type(result.population if isinstance(result, Step) else result).__name__
        raise fail(f"a {got} instead of a Step holding a Population (f2g_core.population)")
    population = result.population
    if not isinstance(population.x, torch.Tensor) or population.x.dim() == 0:
        raise fail(f"latents x are a {type(population.x).__name__}, not a (rows, ...) tensor")
    rows = len(population)
    fields = {"video": population.video, "chain": population.chain, "parents": result.parents}
    if result.picked is not None:
        fields["picked"] = result.picked
    arrays = {}
    for label, values in fields.items():
        array = np.asarray(values)
        if array.shape != (rows,) or not np.issubdtype(array.dtype, np.integer):
            raise fail(f"{label} is {array.dtype} of shape {array.shape}; expected {rows} integers, one per row")
        arrays[label] = array
    sizes = {"x0": None if population.x0 is None else len(population.x0)}
    sizes.update({f"memo[{key!r}]": len(value) for key, value in population.memo.items()})
    for label, size in sizes.items():
        if size is not None and size != rows:
            raise fail(f"{label} has {size} rows but the latents x have {rows}; take rows with population.take")
    video, parents = arrays["video"], arrays["parents"]
    last, jumps = len(tools.videos) - 1, np.diff(video)
    if rows == 0 or video[0] != 0 or video[-1] != last or jumps.min(initial=0) < 0 or jumps.max(initial=0) > 1:
        raise fail(f"rows of videos {_few(video)}; expected every video 0..{last}, rows grouped in order")
    counts = np.bincount(video)
    if counts.min() != counts.max():
        raise fail(f"{_few(counts)} rows per video; every video must keep the same number of rows")
    if previous is not None:
        bad = (parents < 0) | (parents >= len(previous))
        if bad.any():
            raise fail(f"parent {int(parents[bad][0])} out of range: the previous population has {len(previous)} rows")
        if not np.array_equal(previous[parents], video):
            row = int(np.flatnonzero(previous[parents] != video)[0])
            raise fail(f"row {row} of video {int(video[row])} descends from row {int(parents[row])} of another video")
    if "picked" in arrays:
        picked, pool = arrays["picked"], np.asarray(result.pool_video)
        if pool.ndim != 1 or not np.issubdtype(pool.dtype, np.integer):
            raise fail("picked rows without their pool's videos; build the step with Candidates/Population.select")
        bad = (picked < 0) | (picked >= len(pool))
        if bad.any():
            raise fail(f"picked row {int(picked[bad][0])} out of range: the pool it selects from has {len(pool)} rows")
        if not np.array_equal(pool[picked], video):
            row = int(np.flatnonzero(pool[picked] != video)[0])
            raise fail(f"row {row} of video {int(video[row])} was picked from row {int(picked[row])} of another video")
    _check_finite(tools, population)
    return result


def _check_finite(tools: Tools, population: Population) -> None:
    """Non-finite latents only ever decode to a black (or garbage) video: stop at the step where they appear."""
    x = population.x
    if not torch.is_floating_point(x) or bool(torch.isfinite(x).all()):
        return
    bad = sorted({int(population.video[r]) for r in torch.nonzero(~torch.isfinite(x.flatten(1)).all(dim=1)).flatten()})
    which = ", ".join(f"{tools.videos[v].prompt!r} seed {tools.videos[v].seed}" for v in bad[:3])
    raise ComponentError(
        f"backbone {tools.backbone.name!r} produced non-finite latents (NaN or inf) {tools.where} for {which}"
        f"{' …' if len(bad) > 3 else ''}; the video would be black, so no video was saved. Check the backbone's "
        "dtype (float16 overflows), weights and cfg_scale"
    )


def _few(values: np.ndarray, count: int = 8) -> str:
    """The first ``count`` values of an array, for a message."""
    shown = ", ".join(str(int(v)) for v in values[:count])
    return f"[{shown}{', …' if len(values) > count else ''}]"
