"""Component ids -> classes, and building components from configuration with helpful errors.

One registry holds every kind a plugin can register (rewards, combiners, backbones, samplers, eval suites and
metrics), each checked against its base class; :mod:`f2g_core.plugins` fills it through one registration path.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from f2g_core.errors import ConfigError, PluginError
from f2g_core.evaluation import Metric, NamedSuite
from f2g_core.interfaces import Backbone, Combiner, Component, Reward
from f2g_core.population import Sampler

Kind = Literal["reward", "combiner", "backbone", "sampler", "suite", "metric"]
KINDS: dict[Kind, type[Component]] = {
    "reward": Reward,
    "combiner": Combiner,
    "backbone": Backbone,
    "sampler": Sampler,
    "suite": NamedSuite,
    "metric": Metric,
}


class DuplicateId(PluginError):
    """A component's id (or alias) is already taken; the newcomer is skipped, the existing entry stays."""


@dataclass(frozen=True)
class Entry:
    """One registered component class and where it came from."""

    kind: Kind
    name: str
    cls: type[Component]
    plugin: str
    aliases: tuple[str, ...] = ()
    distribution: str | None = None
    """The installed distribution that provided it (``f2g-core`` for built-ins, None for in-process plugins)."""
    version: str | None = None
    override: bool = False
    """Registered with ``override=True``: it replaced (or may replace) a component of the same id."""

    def provenance(self) -> dict[str, str | None]:
        """Where this component came from, as recorded in ``trace.json``."""
        return {"type": self.name, "plugin": self.plugin, "distribution": self.distribution, "version": self.version}


@dataclass
class Registry:
    """All components the loaded plugins registered, by kind and id (aliases included).

    ``unavailable`` maps plugins that are installed but not in use (failed to load, or not selected by
    ``F2G_LOAD_PLUGINS``) to the reason, so an unknown id can say "installed but skipped, because …".
    """

    entries: dict[Kind, dict[str, Entry]] = field(default_factory=lambda: {kind: {} for kind in KINDS})
    unavailable: dict[str, str] = field(default_factory=dict)
    clashes: dict[Kind, dict[str, str]] = field(default_factory=lambda: {kind: {} for kind in KINDS})
    """Ids withheld because installed distributions clash over them, with the message that says how to choose."""

    def add(
        self,
        kind: Kind,
        cls: type[Component],
        plugin: str,
        aliases: Iterable[str] = (),
        distribution: str | None = None,
        version: str | None = None,
        override: bool = False,
    ) -> Entry | None:
        """Register ``cls`` under its ``name`` and ``aliases``.

        An id already taken by another class raises :class:`DuplicateId` naming both owners, and nothing is
        added, unless ``override=True``: then the newcomer replaces it and the replaced entry is returned (the
        caller logs it). An entry registered with ``override=True`` is itself never displaced by a later one.
        """
        self.check(kind, cls, plugin)
        name: str = cls.name
        entry = Entry(kind, name, cls, plugin, tuple(aliases), distribution, version, override)
        table = self.entries[kind]
        taken = [table[key] for key in (name, *entry.aliases) if key in table and table[key].cls is not cls]
        if taken and (not override or any(old.override for old in taken)):
            old = taken[0]
            raise DuplicateId(
                f"duplicate {kind} id {name!r}: already registered by plugin {old.plugin!r} "
                f"({old.distribution or old.cls.__module__}); plugin {plugin!r} ({distribution or cls.__module__}) "
                f"tried to register {cls.__module__}.{cls.__qualname__} under it and that component is skipped "
                "(uninstall one, select plugins with F2G_LOAD_PLUGINS, or register with override=True)"
            )
        self.remove(kind, *taken)
        for key in (name, *entry.aliases):
            table[key] = entry
        return taken[0] if taken else None

    def check(self, kind: Kind, cls: type, plugin: str) -> None:
        """Refuse what cannot be a ``kind`` component: not a subclass of its base, no ``name``, bad ``Options``."""
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

    def remove(self, kind: Kind, *entries: Entry) -> None:
        """Forget ``entries`` under every id they were registered with."""
        table = self.entries[kind]
        for old in entries:
            for key in [key for key, value in table.items() if value is old]:
                del table[key]

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
        """Look up an id; an unknown one raises a ConfigError with close matches and installed-but-unused plugins."""
        table = self.entries[kind]
        if name in table:
            return table[name]
        where = f"{path}: " if path else ""
        if name in self.clashes[kind]:
            raise ConfigError(f"{where}{self.clashes[kind][name]}")
        message = f"{where}unknown {kind} {name!r}."
        close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
        if close:
            message += f" Did you mean {', '.join(repr(c) for c in close)}?"
        message += self.unavailable_hint(name)
        available = self.names(kind)
        message += f" Installed {kind}s: {', '.join(available) if available else 'none'} (see `f2g list {kind}s`)."
        raise ConfigError(message)

    def unavailable_hint(self, name: str = "") -> str:
        """Installed plugins that could provide ``name`` but are not in use, and why (empty when there are none).

        Plugins whose entry-point name or distribution resembles ``name`` are named; failed plugins are always
        worth naming (they may provide anything), plugins merely not selected only when they resemble ``name``
        (all of them when no ``name`` is given).
        """
        like = {
            label: reason
            for label, reason in self.unavailable.items()
            if name and any(part and (part in name or name in part) for part in _label_parts(label))
        }
        failed = {label: reason for label, reason in self.unavailable.items() if "failed to load" in reason}
        shown = (like or failed) if name else self.unavailable
        if not shown:
            return (
                " No installed plugin provides it: install the plugin that does (docs/index.md lists the "
                "project's plugins and what each provides)."
            )
        by_reason: dict[str, list[str]] = {}
        for label, reason in shown.items():
            by_reason.setdefault(reason, []).append(label)
        return "".join(
            f" Plugin{'s' if len(labels) > 1 else ''} {', '.join(labels)} "
            f"{'are' if len(labels) > 1 else 'is'} installed but {reason}."
            for reason, labels in by_reason.items()
        )

    def build(self, kind: Kind, name: str, options: Mapping[str, Any] | None, path: str) -> Component:
        """Instantiate a component with validated options; errors carry the config path of the bad field."""
        entry = self.get(kind, name, f"{path}.type")
        try:
            parsed = entry.cls.Options.model_validate(dict(options or {}))
        except ValidationError as error:
            raise options_error(error, (*_config_path(path), "options"), entry.cls.Options) from None
        return entry.cls(parsed)


def format_validation_error(error: ValidationError, prefix: str = "", known: Sequence[str] = ()) -> str:
    """One line per problem, each prefixed with its dotted/indexed path (``rewards[1].options.detail: …``);
    an unknown key gets the closest of the ``known`` option names as a suggestion."""
    return "; ".join(format_problem(problem, prefix, known) for problem in error.errors())


def format_problem(problem: Mapping[str, Any], prefix: str = "", known: Sequence[str] = ()) -> str:
    """One pydantic problem as ``path: message`` (``path`` = ``prefix`` + its location)."""
    location = _path_text(problem["loc"], prefix)
    message = problem["msg"]
    if problem["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(problem["loc"][-1]), list(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        message = f"unknown key (not an option of this component{hint})"
    return f"{location}: {message}" if location else message


def _path_text(parts: Iterable[Any], prefix: str = "") -> str:
    """A config path as text: ``("rewards", 0, "options")`` after ``prefix`` as ``prefix.rewards[0].options``."""
    text = prefix
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _config_path(text: str) -> tuple[str | int, ...]:
    """``rewards[0].options`` as ``("rewards", 0, "options")``."""
    return tuple(int(index) if index else key for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", text))


def options_error(error: ValidationError, path: tuple[str | int, ...], options: type[BaseModel]) -> ConfigError:
    """A component's options that failed validation, as a ConfigError at config path ``path`` (+ the field)."""
    prefix = _path_text(path)
    first = tuple(part for part in error.errors()[0]["loc"] if isinstance(part, (str, int)))
    return ConfigError(format_validation_error(error, prefix, list(options.model_fields)), (*path, *first))


def _label_parts(label: str) -> list[str]:
    """The words of a plugin label ``'name' (distribution version)`` worth matching against an id."""
    words = label.replace("(", " ").replace(")", " ").replace("'", " ").split()
    return [word for word in words if not word[:1].isdigit()]
