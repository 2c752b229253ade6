"""The Python API: build a pipeline from a config, generate guided videos, save run directories.

from f2g_core import generate
result = generate("config.yaml", prompt="a red circle moving left")
print(result.directory, result.trace.totals())
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from f2g_core.config import RunConfig, check_request, load_config
from f2g_core.errors import ComponentError, ConfigError, F2GError
from f2g_core.interfaces import Backbone, Combiner, Component, Reward
from f2g_core.outputs import prepare_output_dir, save_run
from f2g_core.plugins import default_plugins
from f2g_core.registry import Registry
from f2g_core.sampling import Job, Progress, Scorer, default_key_frames, sample
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


class Pipeline:
    """A backbone, rewards and a combiner built from one RunConfig; loads lazily, reusable across prompts."""

    def __init__(
        self,
        config: RunConfig,
        backbone: Backbone,
        rewards: Mapping[str, Reward],
        combiner: Combiner,
    ) -> None:
        self.config = config
        self.backbone = backbone
        self.rewards = dict(rewards)
        self.combiner = combiner
        self._loaded = False
        self._runner: asyncio.Runner | None = None
        self.provenance: dict[str, Any] = {}
        """Where each component came from (plugin, distribution, version): written to ``trace.json``."""

    @classmethod
    def from_config(
        cls, source: RunConfig | Mapping[str, Any] | str | Path, registry: Registry | None = None
    ) -> Pipeline:
        """Validate a config and build (not load) its components; errors name the config path of the problem."""
        config = load_config(source)
        registry = registry if registry is not None else default_plugins().registry
        backbone = registry.build("backbone", config.backbone.type, config.backbone.options, "backbone")
        names = config.reward_names()
        rewards = {
            name: registry.build("reward", spec.type, spec.options, f"rewards[{index}]")
            for index, (name, spec) in enumerate(zip(names, config.rewards, strict=True))
        }
        combiner = registry.build("combiner", config.combiner.type, config.combiner.options, "combiner")
        assert isinstance(backbone, Backbone) and isinstance(combiner, Combiner)
        pipeline = cls(config, backbone, {k: v for k, v in rewards.items() if isinstance(v, Reward)}, combiner)
        pipeline.provenance = {
            "backbone": registry.get("backbone", config.backbone.type).provenance(),
            "rewards": {
                name: registry.get("reward", spec.type).provenance()
                for name, spec in zip(names, config.rewards, strict=True)
            },
            "combiner": registry.get("combiner", config.combiner.type).provenance(),
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
        if self.config.guidance.method == "none":
            return
        for index, (name, reward) in enumerate(self.rewards.items()):
            try:
                reward.check_key_frames(tuple(frames), self.backbone.num_frames)
            except ValueError as error:
                raise ConfigError(
                    f"guidance.key_frames: reward {name!r} (rewards[{index}]) cannot score frames {frames}: {error}"
                ) from None

    def resolved_config(self, prompt: str, seed: int) -> dict[str, Any]:
        """The config as run: prompt and seed filled in, every component's options with their defaults."""
        data = self.config.model_dump(mode="json")
        data.update(prompt=prompt, seed=seed)
        data["backbone"]["options"] = self.backbone.options.model_dump(mode="json")
        for block, reward in zip(data["rewards"], self.rewards.values(), strict=True):
            block["options"] = reward.options.model_dump(mode="json")
        data["combiner"]["options"] = self.combiner.options.model_dump(mode="json")
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
        self.check()
        self.load()
        config, backbone = self.config, self.backbone
        key_frames = self.key_frames()
        started = time.perf_counter()
        schedule = backbone.schedule(config.sampler.num_steps)
        cond = backbone.encode_prompt(prompt, config.negative_prompt, config.sampler.cfg_scale)
        trace = RunTrace(
            prompt=prompt,
            seed=seed,
            method=config.guidance.method,
            num_steps=schedule.num_steps,
            key_frames=key_frames,
            rewards={name: dict(reward.trace_info()) for name, reward in self.rewards.items()},
            components=self.provenance,
        )
        scorer = None
        if config.guidance.method != "none":
            if self._runner is None:
                self._runner = asyncio.Runner()
            weights = {name: spec.weight for name, spec in zip(self.rewards, config.rewards, strict=True)}
            scorer = Scorer(rewards=self.rewards, weights=weights, combiner=self.combiner, runner=self._runner)
        job = Job(
            backbone=backbone,
            cond=cond,
            schedule=schedule,
            prompt=prompt,
            seed=seed,
            sampler=config.sampler,
            guidance=config.guidance,
            key_frames=key_frames,
            trace=trace,
            scorer=scorer,
            progress=progress,
        )
        latents = sample(job)
        video = np.asarray(backbone.decode_video(latents)[0], dtype=np.float32)
        trace.decode_frames = int(video.shape[0])
        trace.seconds_total = time.perf_counter() - started
        return RunResult(
            prompt=prompt,
            seed=seed,
            video=video,
            latents=latents,
            trace=trace,
            config=self.resolved_config(prompt, seed),
            key_frames=key_frames,
        )

    def output_dir(self, parent: Path | None = None) -> Path:
        """The folder run directories go to (``parent`` or ``output.dir``), checked writable; call before work."""
        if parent is not None:
            return prepare_output_dir(parent, setting="--out")
        return prepare_output_dir(self.config.output.dir)

    def save(self, result: RunResult, parent: Path | None = None) -> Path:
        """Write the run directory (video files, grid.png, config.yaml redacted, trace.json) atomically."""
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
