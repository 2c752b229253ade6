"""Run configuration: one pydantic model, loaded from YAML / TOML / JSON files or dicts, with path-qualified errors.

Component blocks are ``{type, options}`` (rewards add ``weight`` and an optional ``name``). Their ``options`` are
validated later, against each component's own ``Options`` model, when the registry builds them.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from f2g_core.errors import ConfigError
from f2g_core.registry import format_validation_error

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComponentConfig(_Strict):
    """A component chosen by id, with the options its own ``Options`` model accepts."""

    type: str = Field(min_length=1, description="Component id, e.g. `clip` (see `f2g list`).")
    options: dict[str, Any] = Field(default_factory=dict, description="The component's options.")


class RewardConfig(ComponentConfig):
    """A reward in the ensemble."""

    weight: float = Field(1.0, description="Weight of this reward in the combiner.")
    name: str | None = Field(None, description="Label in traces; defaults to the type (made unique).")


class SamplerConfig(_Strict):
    """The stochastic sampler."""

    num_steps: int = Field(50, ge=2, le=1000, description="Sampling steps T.")
    eta: float = Field(1.0, ge=0.0, le=1.0, description="Stochasticity: 1 = DDPM-like posterior sampling, 0 = ODE.")
    cfg_scale: float | None = Field(
        None, ge=0.0, description="Classifier-free guidance scale; None = backbone default."
    )


_FLAT_GUIDANCE = ("num_candidates", "start", "num_guided_steps", "selection", "temperature")
"""Keys of the old flat guidance block (they are options of the ``free2guide`` / ``best-of-n`` methods now)."""


class GuidanceConfig(_Strict):
    """The search method (a ``sampler`` component) and what every method shares: key frames, chunking, timeouts."""

    method: str = Field(
        "free2guide",
        min_length=1,
        description="Search method id: none, free2guide, best-of-n, smc, beam or a plugin's (`f2g list samplers`).",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="The method's options (`f2g list samplers --options`)."
    )
    key_frames: list[int] | None = Field(
        None, description="0-based frames decoded for the rewards; None = 4 evenly spaced (0, 5, 10, 15 of 16)."
    )
    chunk_size: int | None = Field(None, ge=1, description="Samples per denoiser call; None = all at once.")
    reward_timeout_s: float | None = Field(
        None, gt=0.0, description="Seconds one reward may take for one batch; slower scores count as failed (NaN)."
    )

    @model_validator(mode="before")
    @classmethod
    def _flat_form(cls, data: Any) -> Any:
        """The pre-0.2 flat form (``guidance: {num_candidates: 5, …}``) fails with the new form spelled out."""
        if isinstance(data, Mapping):
            flat = {key: data[key] for key in _FLAT_GUIDANCE if key in data}
            if flat:
                method = data.get("method", "free2guide")
                inner = ", ".join(f"{key}: {json.dumps(value)}" for key, value in flat.items())
                raise ValueError(
                    f"guidance: {', '.join(flat)} are options of the method now; write "
                    f"guidance: {{method: {method}, options: {{{inner}}}}}"
                )
        return data

    @model_validator(mode="after")
    def _frames_valid(self) -> GuidanceConfig:
        if self.key_frames is not None:
            if not self.key_frames:
                raise ValueError("guidance.key_frames: give at least one frame index, or null for the default")
            if min(self.key_frames) < 0:
                raise ValueError("guidance.key_frames: frame indices are 0-based and must be >= 0")
        return self


VideoFormat = Literal["mp4", "gif"]
VIDEO_FORMATS: tuple[VideoFormat, ...] = ("mp4", "gif")


class OutputConfig(_Strict):
    """Where and how results are written."""

    dir: Path = Field(Path("runs"), description="Parent folder of run directories.")
    fps: int = Field(8, ge=1, le=120, description="Frames per second of written videos.")
    formats: list[VideoFormat] = Field(default_factory=lambda: list(VIDEO_FORMATS), description="Video files.")


class RunConfig(_Strict):
    """Everything one guided generation needs."""

    prompt: str | None = Field(None, description="The text prompt (the CLI argument overrides it).")
    negative_prompt: str | None = Field(None, description="Negative prompt for classifier-free guidance.")
    seed: int = Field(0, ge=0, description="One seed, one video: all randomness derives from it.")
    backbone: ComponentConfig
    rewards: list[RewardConfig] = Field(default_factory=list)
    combiner: ComponentConfig = Field(default_factory=lambda: ComponentConfig(type="weighted-sum"))
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    guidance: GuidanceConfig = Field(default_factory=GuidanceConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        explicit = [r.name for r in self.rewards if r.name]
        if len(explicit) != len(set(explicit)):
            raise ValueError("rewards: two rewards have the same name; names must be unique")
        return self

    def reward_names(self) -> list[str]:
        """A unique label per reward: its ``name``, else its type (numbered when a type repeats)."""
        names: list[str] = []
        for index, reward in enumerate(self.rewards):
            label = reward.name or reward.type
            if label in names or (not reward.name and [r.type for r in self.rewards].count(reward.type) > 1):
                label = f"{reward.type}-{index}"
            names.append(label)
        return names


# ---------------------------------------------------------------------------------------------------- loading


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a YAML (.yaml/.yml), TOML (.toml) or JSON (.json) file into a dict, with a clear error."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        elif path.suffix in {".yaml", ".yml"}:
            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"{path}: unknown config format {path.suffix!r}; use .yaml, .yml, .toml or .json")
    except (yaml.YAMLError, json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.').upper()}: {error}".replace("\n", " ")) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings, not {type(data).__name__}")
    return data


def load_config(source: RunConfig | Mapping[str, Any] | str | Path, where: str = "") -> RunConfig:
    """A validated RunConfig from a RunConfig, a dict, or a file path; errors name the file and the field."""
    if isinstance(source, RunConfig):
        return source
    if isinstance(source, (str, Path)):
        where = where or str(source)
        source = read_config_file(source)
    try:
        return RunConfig.model_validate(dict(source))
    except ValidationError as error:
        prefix = f"{where}: " if where else ""
        raise ConfigError(prefix + _clean(format_validation_error(error))) from None


def _clean(message: str) -> str:
    """Drop pydantic's 'Value error, ' prefixes and the bare root location of model-level checks."""
    return re.sub(r"(^|; )(?:[^;:]*: )?Value error, ", r"\1", message)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge ``override`` into a copy of ``base`` (mappings merge, everything else replaces)."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply_overrides(data: Mapping[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Apply ``dotted.key=value`` assignments (values parsed as YAML: ``10``, ``true``, ``[0, 5]``)."""
    result = copy.deepcopy(dict(data))
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {assignment!r}: use KEY=VALUE, e.g. --set guidance.options.num_candidates=10")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        target: Any = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
                continue
            if not isinstance(target, dict):
                raise ConfigError(f"--set {assignment!r}: {part!r} is not inside a mapping")
            target = target.setdefault(part, {})
        if isinstance(target, list) and parts[-1].isdigit() and int(parts[-1]) < len(target):
            target[int(parts[-1])] = value
        elif isinstance(target, dict):
            target[parts[-1]] = value
        else:
            raise ConfigError(f"--set {assignment!r}: cannot set {parts[-1]!r} there")
    return result


_SECRET_KEY = re.compile(r"(api[_-]?key|secret|password|authorization|(^|[_-])token$)", re.IGNORECASE)
REDACTED = "***redacted***"


def redact(value: Any) -> Any:
    """A copy with every value under a secret-looking key (api_key, token, secret, password …) replaced."""
    if isinstance(value, Mapping):
        return {
            key: (REDACTED if _SECRET_KEY.search(str(key)) and item not in (None, "") else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def dump_yaml(config: RunConfig | Mapping[str, Any]) -> str:
    """The config as YAML, redacted of secrets (for writing next to outputs)."""
    data = config.model_dump(mode="json") if isinstance(config, RunConfig) else dict(config)
    return yaml.safe_dump(redact(data), sort_keys=False, allow_unicode=True)
