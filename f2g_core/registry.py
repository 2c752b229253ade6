"""Component ids -> classes, and building components from configuration with helpful errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from f2g_core.errors import ConfigError, PluginError
from f2g_core.interfaces import Backbone, Combiner, Component, Reward

Kind = Literal["reward", "combiner", "backbone"]
KINDS: dict[Kind, type[Component]] = {"reward": Reward, "combiner": Combiner, "backbone": Backbone}

KNOWN_PROVIDERS: dict[str, str] = {
    "openai": "f2g-plugin-openai",
    "anthropic": "f2g-plugin-anthropic",
    "transformers-vlm": "f2g-plugin-transformers-vlm",
    "clip": "f2g-plugin-clip",
    "pickscore": "f2g-plugin-clip",
    "hps": "f2g-plugin-clip",
    "imagereward": "f2g-plugin-imagereward",
    "viclip": "f2g-plugin-viclip",
    "shapes": "f2g-plugin-shapes",
    "shapes-judge": "f2g-plugin-shapes",
    "shapes-oracle": "f2g-plugin-shapes",
    "wan": "f2g-plugin-diffusers",
    "ltx-video": "f2g-plugin-diffusers",
    "hunyuan-video": "f2g-plugin-diffusers",
    "cogvideox": "f2g-plugin-diffusers",
    "animatediff": "f2g-plugin-diffusers",
    "modelscope": "f2g-plugin-diffusers",
    "zeroscope": "f2g-plugin-diffusers",
    "videocrafter2-diffusers": "f2g-plugin-diffusers",
    "videocrafter2": "f2g-plugin-paper-backbones",
    "lavie": "f2g-plugin-paper-backbones",
}
"""Ids of components published by the f2g project, so an unknown id can say which package provides it."""


@dataclass(frozen=True)
class Entry:
    """One registered component class and where it came from."""

    kind: Kind
    name: str
    cls: type[Component]
    plugin: str
    aliases: tuple[str, ...] = ()


@dataclass
class Registry:
    """All components the loaded plugins registered, by kind and id (aliases included)."""

    entries: dict[Kind, dict[str, Entry]] = field(default_factory=lambda: {kind: {} for kind in KINDS})

    def add(self, kind: Kind, cls: type[Component], plugin: str, aliases: Iterable[str] = ()) -> None:
        """Register ``cls`` under its ``name`` and ``aliases``; a second owner of an id is an error naming both."""
        base = KINDS[kind]
        if not isinstance(cls, type) or not issubclass(cls, base):
            raise PluginError(
                f"plugin {plugin!r} registered {cls!r} as a {kind}, but it is not a {base.__name__} subclass"
            )
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered {cls.__name__} without a `name` class attribute")
        if not (isinstance(cls.Options, type) and issubclass(cls.Options, BaseModel)):
            raise PluginError(f"{kind} {name!r} from plugin {plugin!r}: Options must be a pydantic model")
        entry = Entry(kind=kind, name=name, cls=cls, plugin=plugin, aliases=tuple(aliases))
        table = self.entries[kind]
        for key in (name, *entry.aliases):
            if key in table and table[key].cls is not cls:
                raise PluginError(
                    f"duplicate {kind} id {key!r}: registered by plugin {table[key].plugin!r} "
                    f"({table[key].cls.__module__}.{table[key].cls.__qualname__}) and by plugin {plugin!r} "
                    f"({cls.__module__}.{cls.__qualname__}); uninstall one or disable it with F2G_LOAD_PLUGINS"
                )
            table[key] = entry

    def remove_plugin(self, plugin: str) -> None:
        """Forget everything ``plugin`` registered (used to undo a plugin whose registration failed midway)."""
        for table in self.entries.values():
            for key in [key for key, entry in table.items() if entry.plugin == plugin]:
                del table[key]

    def names(self, kind: Kind) -> list[str]:
        """Canonical ids (no aliases), sorted."""
        return sorted({entry.name for entry in self.entries[kind].values()})

    def components(self, kind: Kind) -> list[Entry]:
        """One entry per registered class, sorted by id."""
        return sorted({entry.name: entry for entry in self.entries[kind].values()}.values(), key=lambda e: e.name)

    def get(self, kind: Kind, name: str, path: str = "") -> Entry:
        """Look up an id; an unknown one raises a ConfigError with close matches and the package to install."""
        table = self.entries[kind]
        if name in table:
            return table[name]
        where = f"{path}: " if path else ""
        message = f"{where}unknown {kind} {name!r}."
        close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
        if close:
            message += f" Did you mean {', '.join(repr(c) for c in close)}?"
        if name in KNOWN_PROVIDERS:
            message += f" It is provided by {KNOWN_PROVIDERS[name]}: pip install {KNOWN_PROVIDERS[name]}."
        available = self.names(kind)
        message += f" Installed {kind}s: {', '.join(available) if available else 'none'} (see `f2g list {kind}s`)."
        raise ConfigError(message)

    def build(self, kind: Kind, name: str, options: Mapping[str, Any] | None, path: str) -> Component:
        """Instantiate a component with validated options; errors carry the config path of the bad field."""
        entry = self.get(kind, name, f"{path}.type")
        try:
            parsed = entry.cls.Options.model_validate(dict(options or {}))
        except ValidationError as error:
            raise ConfigError(format_validation_error(error, f"{path}.options")) from None
        return entry.cls(parsed)


def format_validation_error(error: ValidationError, prefix: str = "") -> str:
    """One line per problem, each prefixed with its dotted/indexed path (``rewards[1].options.detail: …``)."""
    lines = []
    for problem in error.errors():
        location = prefix
        for part in problem["loc"]:
            location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else str(part))
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown key (not an option of this component)"
        lines.append(f"{location}: {message}" if location else message)
    return "; ".join(lines)
