"""Run configuration: one pydantic model, loaded from YAML / TOML / JSON files or dicts, with path-qualified errors.

Component blocks are ``{type, options}`` (rewards add ``weight`` and an optional ``name``). Their ``options`` are
validated later, against each component's own ``Options`` model, when the registry builds them.

A config is usually assembled from layers (plugin defaults, a file, command-line flags, ``--set``):
:class:`ConfigSources` merges them and blames each validation error on the layer that set the bad value.
Files are strict: duplicate keys, non-UTF-8 bytes and booleans given for numbers are errors, never guesses.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from f2g_core.errors import ConfigError
from f2g_core.registry import format_problem, format_validation_error


def _http_url(value: str) -> str:
    parts = urllib.parse.urlsplit(value)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok or " " in value:
        raise ValueError(f"{value!r} is not an http(s) URL; write it like http://localhost:8000/v1")
    return value


HttpURL = Annotated[str, AfterValidator(_http_url)]
"""An ``http://`` or ``https://`` URL with a host, checked when options are parsed (so ``--check`` catches it);
for component options such as an API's ``base_url``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        """``seed: true`` must not run as seed 1: pydantic would coerce a boolean to a number, f2g refuses."""
        if isinstance(data, Mapping):
            for key, value in data.items():
                info = cls.model_fields.get(str(key))
                if isinstance(value, bool) and info is not None and _numeric(info.annotation):
                    raise ValueError(f"{key}: {value!r} is a boolean; give a number")
        return data


def _numeric(annotation: Any) -> bool:
    """Whether a field annotation is a number (int, float, or an optional one)."""
    return annotation in (int, float) or set(getattr(annotation, "__args__", ())) - {type(None)} in ({int}, {float})


class ComponentConfig(_Strict):
    """A component chosen by id, with the options its own ``Options`` model accepts."""

    type: str = Field(min_length=1, description="Component id, e.g. `clip` (see `f2g list`).")
    options: dict[str, Any] = Field(default_factory=dict, description="The component's options.")


class RewardConfig(ComponentConfig):
    """A reward in the ensemble."""

    weight: float = Field(1.0, allow_inf_nan=False, description="Weight of this reward in the combiner (finite).")
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


class BudgetConfig(_Strict):
    """What one video may cost; the method derives its options from it (docs/samplers.md#budgets)."""

    model_calls: int = Field(
        ..., ge=1, le=1_000_000, description="Denoiser calls per video the method may spend (never exceeded)."
    )


class GuidanceConfig(_Strict):
    """The search method (a ``sampler`` component) and what every method shares: key frames, chunking, timeouts."""

    method: str = Field(
        "free2guide",
        min_length=1,
        description="Search method id: none, free2guide, best-of-n, smc, beam, prune, draft or a plugin's "
        "(`f2g list samplers`).",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="The method's options (`f2g list samplers --options`)."
    )
    key_frames: list[int] | None = Field(
        None, description="0-based frames decoded for the rewards; None = 4 evenly spaced (0, 5, 10, 15 of 16)."
    )
    chunk_size: Annotated[int, Field(ge=1)] | Literal["auto"] | None = Field(
        None,
        description="Samples per denoiser call; None = all at once; 'auto' = the most that fit the accelerator's "
        "free memory by the backbone's estimate (on CUDA; elsewhere all at once).",
    )
    reward_timeout_s: float | None = Field(
        None, gt=0.0, description="Seconds one reward may take for one batch; slower scores count as failed (NaN)."
    )
    budget: BudgetConfig | None = Field(
        None,
        description="Spend at most this per video: the method's options follow from it by the method's documented "
        "rule; options given explicitly still win (and must fit).",
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
    formats: list[VideoFormat] = Field(
        default_factory=lambda: list(VIDEO_FORMATS),
        min_length=1,
        description="Video files to write (at least one: a run without a video file would lose the video).",
    )

    @field_validator("dir")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()


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


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader for which a key repeated in one mapping is an error (PyYAML keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (each setting may appear once)", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _unique_json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"duplicate key(s) {', '.join(repr(k) for k in repeated)} (each setting may appear once)")
    return dict(pairs)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a YAML (.yaml/.yml), TOML (.toml) or JSON (.json) file into a dict, with a clear error."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"{str(path)!r} is a directory, not a config file; pass a .yaml, .toml or .json file")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    if path.suffix not in {".toml", ".json", ".yaml", ".yml"}:
        raise ConfigError(f"{path}: unknown config format {path.suffix!r}; use .yaml, .yml, .toml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not a text file (byte {error.start} is not UTF-8); a config is UTF-8 YAML, TOML or JSON"
        ) from None
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text, object_pairs_hook=_unique_json_object)
        else:
            data = yaml.load(text, Loader=_UniqueKeyLoader)
    except (yaml.YAMLError, ValueError, tomllib.TOMLDecodeError) as error:
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
    if not isinstance(source, Mapping):
        raise ConfigError(
            f"config: expected a RunConfig, a mapping of settings or a config file path, not {type(source).__name__}"
        )
    try:
        return RunConfig.model_validate(dict(source))
    except ValidationError as error:
        prefix = f"{where}: " if where else ""
        raise ConfigError(prefix + _clean(format_validation_error(error))) from None


Path_ = tuple[str | int, ...]


def _paths(data: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every leaf path of a nested dict/list (``("rewards", 0, "weight")``)."""
    if isinstance(data, Mapping) and data:
        return [path for key, value in data.items() for path in _paths(value, (*prefix, key))]
    if isinstance(data, list) and data:
        return [path for index, value in enumerate(data) for path in _paths(value, (*prefix, index))]
    return [prefix]


@dataclass
class ConfigSources:
    """A config assembled from labelled layers; validation errors name the layer that set the bad value.

    ``merge(label, partial)`` deep-merges a partial config (plugin defaults, a file, flags); ``set(assignments)``
    applies ``--set KEY=VALUE`` overrides, each its own layer. ``load()`` validates the result.
    """

    data: dict[str, Any] = field(default_factory=dict)
    layers: list[tuple[str, list[Path_]]] = field(default_factory=list)

    def merge(self, label: str, partial: Mapping[str, Any]) -> None:
        self.data = deep_merge(self.data, partial)
        self.layers.append((label, _paths(partial)))

    def replace(self, label: str, key: str, value: Any) -> None:
        """Set the top-level block ``key`` whole (no merging with what earlier layers set there)."""
        self.data = {**self.data, key: value}
        self.layers.append((label, _paths({key: value})))

    def set(self, assignments: Sequence[str]) -> None:
        self.data = apply_overrides(self.data, list(assignments))
        for assignment in assignments:
            key = assignment.partition("=")[0].strip()
            self.layers.append((f"--set {assignment}", [tuple(int(p) if p.isdigit() else p for p in key.split("."))]))

    def blame(self, location: Sequence[str | int]) -> str:
        """The label of the last layer that set ``location`` (or anything inside it); all labels for the root."""
        loc = tuple(location)
        for label, paths in reversed(self.layers):
            if loc and any(p[: len(loc)] == loc or loc[: len(p)] == p for p in paths if p):
                return label
        return " + ".join(dict.fromkeys(label for label, paths in self.layers if paths != [()])) or "config"

    def load(self) -> RunConfig:
        try:
            return RunConfig.model_validate(self.data)
        except ValidationError as error:
            lines = [
                f"{self.blame(_data_location(problem['loc']))}: " + _clean(format_problem(problem))
                for problem in error.errors()
            ]
            raise ConfigError("; ".join(lines)) from None


def _data_location(loc: Sequence[Any]) -> tuple[str | int, ...]:
    """A pydantic error location as a path into the data (drop union/validator tags such as ``function-after``)."""
    return tuple(part for part in loc if isinstance(part, int) or ("[" not in str(part) and "-" not in str(part)))


def check_request(prompt: Any, seed: Any) -> None:
    """Reject a bad prompt or seed passed to the Python API before any work (``generate(prompt=123)``)."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigError(f"prompt: expected a non-empty string, not {_short(prompt)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed: expected an integer >= 0, not {_short(seed)}")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= limit else text[:limit] + '…'}"


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
_NAMES_A_SECRET = re.compile(r"[_-](env|var|variable|name|file|path)$", re.IGNORECASE)
"""Keys that hold where a secret lives (``api_key_env: OPENAI_API_KEY``), not the secret: kept, or a saved config
would no longer find its key when run again."""
REDACTED = "***redacted***"


def redact(value: Any) -> Any:
    """A copy with every value under a secret-looking key (api_key, token, secret, password …) replaced."""
    if isinstance(value, Mapping):
        return {
            key: (REDACTED if _is_secret(str(key)) and item not in (None, "") else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _is_secret(key: str) -> bool:
    return bool(_SECRET_KEY.search(key)) and not _NAMES_A_SECRET.search(key)


def dump_yaml(config: RunConfig | Mapping[str, Any]) -> str:
    """The config as YAML, redacted of secrets (for writing next to outputs)."""
    data = config.model_dump(mode="json") if isinstance(config, RunConfig) else dict(config)
    return yaml.safe_dump(redact(data), sort_keys=False, allow_unicode=True)
