"""The Python API: build a pipeline from a config, generate guided videos, save run directories.

from f2g_core import generate
result = generate("config.yaml", prompt="a red circle moving left")
print(result.directory, result.trace.totals())
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from f2g_core.config import RunConfig, check_request, load_config
from f2g_core.errors import ComponentError, ConfigError, F2GError
from f2g_core.interfaces import Backbone, Combiner, Component, Reward
from f2g_core.limits import CallLimits, SharedLimits
from f2g_core.outputs import prepare_output_dir, save_failed_run, save_run
from f2g_core.plugins import default_plugins
from f2g_core.population import Sampler
from f2g_core.registry import Registry, options_error
from f2g_core.sampling import Progress, Tools, Video, blame, decode_chunked, default_key_frames, run
from f2g_core.scoring import Scorer
from f2g_core.trace import RunTrace


@dataclass
class RunResult:
    """A finished video and everything needed to understand and reproduce it."""

    prompt: str
    seed: int
    video: np.ndarray
    """(frames, height, width, 3) float32 in [0, 1]."""
    latents: Any
    trace: RunTrace
    config: dict[str, Any]
    """The resolved configuration (component options with their defaults), not yet redacted."""
    key_frames: list[int]
    directory: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def guided(self) -> bool:
        """Whether guidance did what was asked: nothing was planned, or a valid score decided at least one step.

        False means guidance was planned but no score ever decided anything (every reward failed, or a budget
        stopped it first): the video is then a plain sample.
        """
        totals = self.trace.totals()
        return totals["planned_guided_steps"] == 0 or totals["guided_steps"] > 0


@dataclass
class FailedRun:
    """A video whose run failed after sampling began: its trace up to the failing step (``trace.failure`` names
    the step and the error) and the resolved configuration. :meth:`Pipeline.save_failed` writes it as a run
    directory marked failed; :func:`failed_runs` finds the failed videos of an error."""

    prompt: str
    seed: int
    trace: RunTrace
    config: dict[str, Any]


FAILED_RUNS = "f2g_failed_runs"
"""The attribute of an exception that ended a run, holding the :class:`FailedRun` of every video it ended."""


def failed_runs(error: BaseException) -> list[FailedRun]:
    """The videos ``error`` ended mid-run, with their traces so far (empty when it ended none: e.g. a config
    error raised before sampling). The CLI saves them before reporting the error; so can any caller."""
    return list(getattr(error, FAILED_RUNS, []))


class Pipeline:
    """A backbone, rewards and a combiner built from one RunConfig; loads lazily, reusable across prompts."""

    def __init__(
        self,
        config: RunConfig,
        backbone: Backbone,
        rewards: Mapping[str, Reward],
        combiner: Combiner,
        sampler: Sampler,
        limits: CallLimits | None = None,
    ) -> None:
        """``limits``: run-wide limits on remote calls that this pipeline's rewards share with other pipelines
        (an eval's workers); each reward gets them as :attr:`~f2g_core.interfaces.Reward.shared_limits`."""
        shared = SharedLimits(limits)
        for reward in rewards.values():
            reward.shared_limits = shared
        self.config = config
        self.sampler = sampler
        self.backbone = backbone
        self.rewards = dict(rewards)
        self.combiner = combiner
        self._loaded = False
        self._runner: asyncio.Runner | None = None
        self.provenance: dict[str, Any] = {}
        """Where each component came from (plugin, distribution, version): written to ``trace.json``."""
        self._runs = 0  # video runs so far: each gets its own id (reward usage and budget scopes)

    @classmethod
    def from_config(
        cls,
        source: RunConfig | Mapping[str, Any] | str | Path,
        registry: Registry | None = None,
        limits: CallLimits | None = None,
    ) -> Pipeline:
        """Validate a config and build (not load) its components; errors name the config path of the problem.

        ``limits``: run-wide limits on remote reward calls shared with other pipelines (see :meth:`__init__`)."""
        config = load_config(source)
        registry = registry if registry is not None else default_plugins().registry
        backbone = registry.build("backbone", config.backbone.type, config.backbone.options, "backbone")
        names = config.reward_names()
        rewards = {
            name: registry.build("reward", spec.type, spec.options, f"rewards[{index}]")
            for index, (name, spec) in enumerate(zip(names, config.rewards, strict=True))
        }
        combiner = registry.build("combiner", config.combiner.type, config.combiner.options, "combiner")
        sampler = build_sampler(config, registry)
        assert isinstance(backbone, Backbone) and isinstance(combiner, Combiner)
        built = {k: v for k, v in rewards.items() if isinstance(v, Reward)}
        pipeline = cls(config, backbone, built, combiner, sampler, limits)
        pipeline.provenance = {
            "backbone": registry.get("backbone", config.backbone.type).provenance(),
            "rewards": {
                name: registry.get("reward", spec.type).provenance()
                for name, spec in zip(names, config.rewards, strict=True)
            },
            "combiner": registry.get("combiner", config.combiner.type).provenance(),
            "sampler": registry.get("sampler", config.guidance.method).provenance(),
        }
        return pipeline

    # ---------------------------------------------------------------------------------------------- lifecycle

    def _components(self) -> list[tuple[str, Component]]:
        return [("backbone", self.backbone), *((f"reward {n!r}", r) for n, r in self.rewards.items())]

    def load(self) -> None:
        """Load weights and clients (once). A failure names the component and keeps the message of its cause."""
        if self._loaded:
            return
        for label, component in self._components():
            try:
                component.load()
            except F2GError:
                raise
            except Exception as error:
                raise ComponentError(
                    f"{label} ({component.name}) failed to load: {type(error).__name__}: {error}"
                ) from error
        self._loaded = True

    def close(self, wait: bool = True) -> None:
        """Release every component and the event loop; ``wait=False`` does not wait for reward threads."""
        for _, component in self._components():
            component.close()
        if self._runner is not None and wait:
            self._runner.close()
        self._runner = None

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # After Ctrl-C a sync reward may still be running in a worker thread; waiting for it would hang the exit.
        self.close(wait=not (exc_type is not None and issubclass(exc_type, KeyboardInterrupt)))

    # ---------------------------------------------------------------------------------------------- running

    def key_frames(self) -> list[int]:
        """The frames decoded for the rewards, checked against the backbone's frame count."""
        frames = self.config.guidance.key_frames or default_key_frames(self.backbone.num_frames)
        bad = [f for f in frames if f >= self.backbone.num_frames]
        if bad:
            raise ConfigError(
                f"guidance.key_frames: frame(s) {bad} out of range for backbone {self.backbone.name!r}, which makes "
                f"{self.backbone.num_frames} frames (valid: 0..{self.backbone.num_frames - 1})"
            )
        return list(frames)

    def check(self) -> None:
        """What the run would reject, found without loading anything: key frames against the backbone's frame
        count and against each reward's needs (:meth:`~f2g_core.interfaces.Reward.check_key_frames`)."""
        frames = self.key_frames()
        if not self.sampler.needs_rewards:
            return
        for index, (name, reward) in enumerate(self.rewards.items()):
            try:
                reward.check_key_frames(tuple(frames), self.backbone.num_frames)
            except ValueError as error:
                raise ConfigError(
                    f"guidance.key_frames: reward {name!r} (rewards[{index}]) cannot score frames {frames}: {error}"
                ) from None

    def memory_report(self) -> str | None:
        """The backbone's estimate of peak accelerator memory for this config, as one line (None: it cannot tell).

        With ``chunk_size`` unset or ``auto`` the peak is given for one candidate per call plus its per-candidate
        share, from which a chunk follows."""
        estimate = self.backbone.memory_estimate()
        if estimate is None:
            return None
        chunk = self.config.guidance.chunk_size
        rows = chunk if isinstance(chunk, int) else 1
        return (
            f"estimated peak accelerator memory: {_gib(estimate.peak(rows))} at {rows} candidate(s) per denoiser call "
            f"(weights {_gib(estimate.weights)}, {_gib(estimate.per_row)} per candidate, "
            f"decoding {_gib(estimate.decode)})"
        )

    def resolved_config(self, prompt: str, seed: int) -> dict[str, Any]:
        """The config as run: prompt and seed filled in, every component's options with their defaults."""
        data = self.config.model_dump(mode="json")
        data.update(prompt=prompt, seed=seed)
        data["backbone"]["options"] = self.backbone.options.model_dump(mode="json")
        for block, reward in zip(data["rewards"], self.rewards.values(), strict=True):
            block["options"] = reward.options.model_dump(mode="json")
        data["combiner"]["options"] = self.combiner.options.model_dump(mode="json")
        data["guidance"]["options"] = self.sampler.options.model_dump(mode="json")
        return data

    def generate(
        self, prompt: str | None = None, seed: int | None = None, progress: Progress | None = None
    ) -> RunResult:
        """Generate one video for ``prompt`` (default: the config's) with the configured method."""
        prompt = prompt if prompt is not None else self.config.prompt
        if not prompt:
            raise ConfigError("prompt: no prompt given; pass one (f2g generate PROMPT) or set `prompt:` in the config")
        seed = self.config.seed if seed is None else seed
        check_request(prompt, seed)
        return self._run([(prompt, seed)], progress)[0]

    def generate_many(
        self,
        prompts: Sequence[str] | str,
        seeds: Sequence[int] | int | None = None,
        progress: Progress | None = None,
        videos_per_batch: int | None = None,
    ) -> list[RunResult]:
        """One video per (prompt, seed) pair of ``prompts × seeds`` (default seeds: the config's), prompt-major.

        A single string is one prompt (not a sequence of one-character prompts), a single int one seed.

        Where the backbone supports batched conditioning, the chains of up to ``videos_per_batch`` videos (None:
        all) share every denoiser call; otherwise videos run one after another. Either way each video equals what
        :meth:`generate` makes for its prompt and seed, and has its own trace (and, once saved, run directory).
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts or any(not p for p in prompts):
            raise ConfigError("prompts: give at least one non-empty prompt")
        seeds = [self.config.seed] if seeds is None else [seeds] if isinstance(seeds, int) else list(seeds)
        return self.generate_pairs([(prompt, seed) for prompt in prompts for seed in seeds], progress, videos_per_batch)

    def generate_pairs(
        self,
        pairs: Sequence[tuple[str, int]],
        progress: Progress | None = None,
        videos_per_batch: int | None = None,
    ) -> list[RunResult]:
        """One video per ``(prompt, seed)`` pair, in order, batched as :meth:`generate_many` (suites are lists of
        pairs, not a prompts × seeds grid)."""
        if not pairs:
            raise ConfigError("prompts: give at least one (prompt, seed) pair")
        for prompt, seed in pairs:
            check_request(prompt, seed)
        size = len(pairs) if self.backbone.batched_conditioning else 1
        size = min(size, videos_per_batch or size)
        results: list[RunResult] = []
        for begin in range(0, len(pairs), size):
            results.extend(self._run(list(pairs[begin : begin + size]), progress))
        return results

    def _run(self, pairs: list[tuple[str, int]], progress: Progress | None) -> list[RunResult]:
        """Sample the videos of ``pairs`` in lockstep (one population) and decode them."""
        self.check()
        self.load()
        config, backbone = self.config, self.backbone
        key_frames = self.key_frames()
        started = time.perf_counter()
        schedule = backbone.schedule(config.sampler.num_steps)
        first, self._runs = self._runs, self._runs + len(pairs)
        videos = [
            Video(
                run=first + index,
                prompt=prompt,
                seed=seed,
                cond=backbone.encode_prompt(prompt, config.negative_prompt, config.sampler.cfg_scale),
                trace=RunTrace(
                    prompt=prompt,
                    seed=seed,
                    method=self.sampler.name,
                    num_steps=schedule.num_steps,
                    key_frames=key_frames,
                    rewards={name: dict(reward.trace_info()) for name, reward in self.rewards.items()},
                    options=self.sampler.trace_info(),
                    planned=self.sampler.planned_guided_steps(schedule.num_steps, schedule),
                    components=self.provenance,
                ),
            )
            for index, (prompt, seed) in enumerate(pairs)
        ]
        scorer = None
        if self.sampler.needs_rewards:
            if self._runner is None:
                self._runner = asyncio.Runner()
            weights = {name: spec.weight for name, spec in zip(self.rewards, config.rewards, strict=True)}
            scorer = Scorer(
                rewards=self.rewards,
                weights=weights,
                combiner=self.combiner,
                runner=self._runner,
                timeout_s=config.guidance.reward_timeout_s,
            )
        tools = Tools(
            backbone,
            schedule,
            videos,
            eta=config.sampler.eta,
            key_frames=key_frames,
            chunk_size=config.guidance.chunk_size,
            scorer=scorer,
        )
        try:
            latents = run(self.sampler, tools, progress)
            decoded = _decode(backbone, latents, tools.chunk_size)
        except Exception as error:  # keep each video's trace so far (Ctrl-C is no failure: nothing is kept)
            for video in videos:
                if video.trace.failure is None:  # sampling finished: decoding failed
                    video.trace.fail(-1, "decode", "decoding the finished videos", error)
            failed = [FailedRun(v.prompt, v.seed, v.trace, self.resolved_config(v.prompt, v.seed)) for v in videos]
            setattr(error, FAILED_RUNS, failed)
            raise
        results = []
        for index, video in enumerate(videos):
            frames = decoded[index]
            video.trace.decode_frames = int(frames.shape[0])
            video.trace.seconds_total = (time.perf_counter() - started) / len(videos)
            results.append(
                RunResult(
                    prompt=video.prompt,
                    seed=video.seed,
                    video=frames,
                    latents=latents[index : index + 1],
                    trace=video.trace,
                    config=self.resolved_config(video.prompt, video.seed),
                    key_frames=key_frames,
                )
            )
        return results

    def save_failed(self, failed: FailedRun, parent: Path | None = None) -> Path:
        """Write a failed video's run directory (``…-failed``: config.yaml and trace.json up to the failing step,
        no video) atomically, as :meth:`save` does; returns it."""
        trace = failed.trace.to_dict()
        return save_failed_run(self.output_dir(parent), failed.prompt, failed.seed, failed.config, trace)

    def output_dir(self, parent: Path | None = None) -> Path:
        """The folder run directories go to (``parent`` or ``output.dir``), checked writable; call before work."""
        if parent is not None:
            return prepare_output_dir(parent, setting="--out")
        return prepare_output_dir(self.config.output.dir)

    def save(self, result: RunResult, parent: Path | None = None) -> Path:
        """Write the run directory (video files, grid.png, config.yaml redacted, trace.json) atomically."""
        if not isinstance(result, RunResult):
            raise TypeError(
                f"Pipeline.save expects the RunResult that generate() returned, not {type(result).__name__} "
                f"{str(result)[:60]!r}; to choose the folder, pass it second: save(result, parent)"
            )
        output = self.config.output
        result.directory, result.files = save_run(
            self.output_dir(parent),
            result.prompt,
            result.seed,
            result.video,
            result.key_frames,
            result.config,
            result.trace.to_dict(),
            formats=output.formats,
            fps=output.fps,
        )
        return result.directory


def _decode(backbone: Backbone, latents: Any, chunk: int | None) -> np.ndarray:
    """Every frame of the finished videos; non-finite frames fail naming the backbone (no black video is made)."""
    with blame(f"backbone {backbone.name!r} failed decoding the finished videos"):
        decoded = decode_chunked(backbone, latents, None, chunk)
    if not np.isfinite(decoded).all():
        raise ComponentError(
            f"backbone {backbone.name!r} decoded non-finite frames (NaN or inf) from finite latents; the video "
            "would be black, so no video was saved. Check the decoder's dtype (float16 overflows) and weights"
        )
    return decoded


def build_sampler(config: RunConfig, registry: Registry) -> Sampler:
    """The configured search method with validated options, checked against the run (steps, rewards)."""
    entry = registry.get("sampler", config.guidance.method, "guidance.method")
    budget, num_steps = config.guidance.budget, config.sampler.num_steps
    given = dict(config.guidance.options)
    if budget is not None:
        assert issubclass(entry.cls, Sampler)
        given = {**_budget_options(entry.cls, budget.model_calls, num_steps, given), **given}
    try:
        options = entry.cls.Options.model_validate(given)
    except ValidationError as error:
        raise options_error(error, ("guidance", "options"), entry.cls.Options) from None
    sampler = entry.cls(options)
    assert isinstance(sampler, Sampler)
    try:
        sampler.check(num_steps)
        cost = sampler.model_calls(num_steps) if budget is not None else 0
    except ValueError as error:
        raise ConfigError(str(error), ("guidance", "options")) from None
    if budget is not None and cost > budget.model_calls:
        raise ConfigError(
            f"guidance.budget.model_calls={budget.model_calls}: {sampler.name} with "
            f"{_options_text(given)} costs {cost} model calls per video at sampler.num_steps={num_steps}; "
            "raise the budget or lower the options you set",
            ("guidance", "budget"),
        )
    if sampler.needs_rewards and not config.rewards:
        raise ConfigError(
            f"rewards: guidance method {sampler.name!r} needs at least one reward (or set guidance.method: none)"
        )
    return sampler


def _budget_options(cls: type[Sampler], model_calls: int, num_steps: int, given: dict[str, Any]) -> dict[str, Any]:
    """The options ``cls``'s budget rule derives (explicit ``given`` options are kept by the caller)."""
    try:
        derived = cls.budget_options(model_calls, num_steps, given)
    except ValueError as error:
        raise ConfigError(f"guidance.budget.model_calls={model_calls}: {error}", ("guidance", "budget")) from None
    if derived is None:
        raise ConfigError(
            f"guidance.budget: method {cls.name!r} states no budget rule; set guidance.options instead",
            ("guidance", "budget"),
        )
    return derived


def _options_text(options: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in options.items()) or "its defaults"


def generate(
    config: RunConfig | Mapping[str, Any] | str | Path,
    prompt: str | None = None,
    seed: int | None = None,
    save: bool = True,
    registry: Registry | None = None,
) -> RunResult:
    """One call: build a pipeline from ``config``, generate, and (by default) write the run directory."""
    with Pipeline.from_config(config, registry=registry) as pipeline:
        if save:
            pipeline.output_dir()  # a bad output folder fails now, not after the video is made
        result = pipeline.generate(prompt=prompt, seed=seed)
        if save:
            pipeline.save(result)
        return result


def _gib(size: int) -> str:
    return f"{size / 2**30:.2f} GiB"
