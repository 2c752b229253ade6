"""The plugin manager: built-in plugins plus entry points of group ``f2g``, each loaded in isolation.

A plugin that fails to import, or whose registration hook raises, is recorded (distribution, version, error) and
reported by ``f2g plugins`` and a warning; it never stops the other plugins or the CLI.

Precedence (docs/plugins.md): plugins load in a fixed order, built-ins first, then first-party distributions
(``f2g-core`` and ``f2g-plugin-*``), then every other distribution, each group by entry-point name. An id belongs
to the first plugin that registers it; a later plugin registering the same id has *that component* skipped with
a warning (the rest of the plugin still loads), so no plugin can silently replace or disable a first-party one.
A plugin that means to replace a component calls ``register(cls, override=True)``; the replacement is logged.

Environment variables:

* ``F2G_LOAD_PLUGINS``: unset = load every installed plugin; empty = none; ``a,b`` = only those entry-point names
  (built-in plugins always load; a name that matches no installed plugin warns).
* ``F2G_STRICT_PLUGINS=1``: every plugin problem (a failure, a skipped duplicate, a plugin registering nothing)
  is a fatal :class:`PluginError` instead of a warning (useful in CI).
"""

from __future__ import annotations

import contextvars
import difflib
import functools
import importlib
import os
import traceback
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

import pluggy
from pluggy import HookImpl

from f2g_core import hookspecs
from f2g_core.errors import PluginError
from f2g_core.registry import Kind, Registry

BUILTIN_PLUGINS = (
    "f2g_core.default_plugins.combiners",
    "f2g_core.default_plugins.samplers",
    "f2g_core.default_plugins.search_methods",
)
HOOKS: dict[Kind, str] = {
    "reward": "register_rewards",
    "combiner": "register_combiners",
    "backbone": "register_backbones",
    "sampler": "register_samplers",
}
FIRST_PARTY_DISTRIBUTIONS = ("f2g-core",)
FIRST_PARTY_PREFIX = "f2g-plugin-"
"""Distributions of the f2g project: ``f2g-core`` and ``f2g-plugin-*`` (a reserved prefix, see docs/plugins.md)."""


def is_first_party(distribution: str | None) -> bool:
    """Whether a distribution name is one of the project's own (normalised as pip does: case, ``_`` and ``.``)."""
    if not distribution:
        return False
    normal = distribution.lower().replace("_", "-").replace(".", "-")
    return normal in FIRST_PARTY_DISTRIBUTIONS or normal.startswith(FIRST_PARTY_PREFIX)


@dataclass
class PluginInfo:
    """What ``f2g plugins`` shows about one plugin."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    error: str | None = None
    details: str | None = None
    components: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Components not registered, each with the reason (an id already taken by another plugin)."""
    notes: list[str] = field(default_factory=list)
    """Warnings about this plugin (it registers nothing, it overrode a component …)."""
    builtin: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def first_party(self) -> bool:
        return self.builtin or is_first_party(self.distribution)

    @property
    def label(self) -> str:
        """``'name' (distribution version)``, as messages name a plugin."""
        origin = " ".join(part for part in (self.distribution or self.module, self.version) if part)
        return f"{self.name!r} ({origin})"


@dataclass
class Plugins:
    """A plugin manager, what each plugin registered, and the resulting registry."""

    manager: pluggy.PluginManager
    registry: Registry
    infos: list[PluginInfo]

    @property
    def failures(self) -> list[PluginInfo]:
        return [info for info in self.infos if not info.ok]

    def default_run_config(self) -> dict[str, Any]:
        """The first non-empty ``default_run_config`` in load order (built-ins, first-party, others).

        pluggy would call the last registered plugin first; f2g asks them in load order instead, so a
        third-party plugin cannot replace the defaults of an installed first-party one.
        """
        for impl in self.manager.hook.default_run_config.get_hookimpls():
            result = cast("Mapping[str, Any] | None", impl.function())
            if result:
                return dict(result)
        return {}


_STRICT: contextvars.ContextVar[bool | None] = contextvars.ContextVar("f2g_strict_plugins", default=None)
"""Strictness for the current :func:`load_plugins` call when its caller chose one (else the environment)."""


def _strict() -> bool:
    chosen = _STRICT.get()
    if chosen is not None:
        return chosen
    return os.environ.get("F2G_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}


def _warn(info: PluginInfo, message: str, error: BaseException | None = None) -> None:
    """Report a plugin problem: a warning, or a PluginError under ``F2G_STRICT_PLUGINS=1``."""
    if _strict():
        raise PluginError(f"plugin {info.label}: {message}") from error
    warnings.warn(f"f2g plugin {info.label}: {message}", stacklevel=3)


def _fail(info: PluginInfo, error: BaseException, hint: str = "") -> None:
    info.error = f"{type(error).__name__}: {error}{hint}"
    info.details = "".join(traceback.format_exception(error))
    _warn(info, f"failed to load and is skipped: {info.error} (run `f2g plugins --all` for details)", error)


def _distribution(point: EntryPoint) -> tuple[str | None, str | None]:
    dist = point.dist
    return (dist.metadata["Name"], dist.version) if dist else (None, None)


def _selected(points: Iterable[EntryPoint], registry: Registry) -> list[EntryPoint]:
    """Entry points in load order, filtered by ``F2G_LOAD_PLUGINS``; deselected ones are noted in the registry."""
    ordered = sorted(points, key=lambda ep: (not is_first_party(_distribution(ep)[0]), ep.name))
    wanted = os.environ.get("F2G_LOAD_PLUGINS")
    if wanted is None:
        return ordered
    allowed = {name.strip() for name in wanted.split(",") if name.strip()}
    names = {ep.name for ep in ordered}
    for name in sorted(allowed - names):
        close = difflib.get_close_matches(name, sorted(names), n=3, cutoff=0.5)
        suggestion = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        message = f"F2G_LOAD_PLUGINS names {name!r}, which matches no installed plugin.{suggestion}"
        if _strict():
            raise PluginError(message)
        warnings.warn(f"{message} Installed: {', '.join(sorted(names)) or 'none'}.", stacklevel=3)
    for point in ordered:
        if point.name not in allowed:
            dist, version = _distribution(point)
            label = PluginInfo(point.name, point.value, dist, version).label
            registry.unavailable[label] = f"not loaded (F2G_LOAD_PLUGINS={wanted!r} does not select it)"
    return [ep for ep in ordered if ep.name in allowed]


def new_manager() -> pluggy.PluginManager:
    """A plugin manager knowing the f2g hook specs and nothing else."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def _hook_names(manager: pluggy.PluginManager) -> list[str]:
    return sorted(name for name, caller in vars(manager.hook).items() if getattr(caller, "spec", None) is not None)


def _near_hooks(manager: pluggy.PluginManager, plugin: Any) -> list[tuple[str, str]]:
    """``(attribute, hook)`` pairs: functions of ``plugin`` named like (or exactly as) a hook."""
    hooks = _hook_names(manager)
    pairs = []
    for attribute in dir(plugin):
        if attribute.startswith("_") or not callable(getattr(plugin, attribute, None)):
            continue
        close = difflib.get_close_matches(attribute, hooks, n=1, cutoff=0.8)
        if close:
            pairs.append((attribute, close[0]))
    return pairs


def _add(manager: pluggy.PluginManager, plugin: Any, info: PluginInfo) -> bool:
    try:
        manager.register(plugin, name=info.name)
        manager.check_pending()
    except Exception as error:
        if manager.is_registered(plugin):
            manager.unregister(plugin)
        typos = [(a, h) for a, h in _near_hooks(manager, plugin) if a != h]
        hint = "".join(f"; did you mean {hook!r} instead of {attr!r}?" for attr, hook in typos)
        _fail(info, error, hint)
        return False
    if not manager.get_hookcallers(plugin):
        unmarked = _near_hooks(manager, plugin)
        why = "; ".join(
            f"{attr!r} is not a hook implementation (mark it with @hookimpl from f2g_core.hookspecs"
            + (f" and name it {hook!r})" if attr != hook else ")")
            for attr, hook in unmarked
        )
        message = f"registers nothing: it implements no f2g hook{': ' + why if why else ''}"
        info.notes.append(message)
        _warn(info, message)
    return True


def load_plugins(
    extra: Iterable[tuple[str, Any]] = (),
    entry_point_group: str | None = hookspecs.PROJECT_NAME,
    strict: bool | None = None,
) -> Plugins:
    """Build a plugin manager and registry from the built-ins, installed entry points and ``extra`` plugins.

    ``extra`` is ``(name, module_or_object)`` pairs (tests register throwaway plugins this way), loaded last;
    ``entry_point_group=None`` skips installed plugins entirely (an isolated registry). ``strict`` (default:
    ``F2G_STRICT_PLUGINS``) makes every plugin problem a :class:`PluginError` instead of a warning.
    """
    token = _STRICT.set(strict)
    try:
        return _load_plugins(extra, entry_point_group)
    finally:
        _STRICT.reset(token)


def _load_plugins(extra: Iterable[tuple[str, Any]], entry_point_group: str | None) -> Plugins:
    manager = new_manager()
    registry = Registry()
    infos: list[PluginInfo] = []
    for module_name in BUILTIN_PLUGINS:
        info = PluginInfo(
            name=module_name.rsplit(".", 1)[-1], module=module_name, distribution="f2g-core", builtin=True
        )
        infos.append(info)
        _add(manager, importlib.import_module(module_name), info)
    if entry_point_group is not None:
        for point in _selected(entry_points(group=entry_point_group), registry):
            distribution, version = _distribution(point)
            info = PluginInfo(name=point.name, module=point.value, distribution=distribution, version=version)
            infos.append(info)
            try:
                loaded = point.load()
            except Exception as error:  # a broken plugin must never break the CLI
                _fail(info, error)
                continue
            _add(manager, loaded, info)
    for name, plugin in extra:
        info = PluginInfo(name=name, module=getattr(plugin, "__name__", type(plugin).__name__))
        infos.append(info)
        _add(manager, plugin, info)
    impls = {kind: getattr(manager.hook, hook).get_hookimpls() for kind, hook in HOOKS.items()}
    for info in infos:
        if info.ok:
            _register_all(
                registry,
                info,
                [(kind, impl) for kind in HOOKS for impl in impls[kind] if impl.plugin_name == info.name],
            )
    for info in infos:
        if not info.ok:
            registry.unavailable[info.label] = f"failed to load ({info.error})"
    return Plugins(manager=manager, registry=registry, infos=infos)


def _register_all(registry: Registry, info: PluginInfo, impls: list[tuple[Kind, HookImpl]]) -> None:
    """Run one plugin's registration hooks, then add its components one by one.

    A hook that raises registers none of the plugin's components (it is half-configured). A component whose id
    is taken, or that is not a valid component, is skipped alone, with a warning.
    """
    staged: list[tuple[Kind, type, tuple[str, ...], bool]] = []
    try:
        for kind, impl in impls:

            def register(cls: type, aliases: Iterable[str] = (), override: bool = False, _kind: Kind = kind) -> None:
                staged.append((_kind, cls, tuple(aliases), bool(override)))

            impl.function(**{arg: register for arg in impl.argnames if arg == "register"})
    except Exception as error:
        _fail(info, error)
        return
    for kind, cls, aliases, override in staged:
        try:
            replaced = registry.add(kind, cls, info.name, aliases, info.distribution, info.version, override=override)
        except PluginError as error:
            info.skipped.append(f"{kind}:{getattr(cls, 'name', cls)!s} ({error})")
            _warn(info, str(error), error)
            continue
        info.components.append(f"{kind}:{cls.name}")  # type: ignore[attr-defined]
        if replaced is not None:
            message = (
                f"overrides {kind} {replaced.name!r} of plugin {replaced.plugin!r} "
                f"({replaced.distribution or replaced.cls.__module__}) (registered with override=True)"
            )
            info.notes.append(message)
            warnings.warn(f"f2g plugin {info.label}: {message}", stacklevel=2)
    if impls and not staged:
        message = "registers nothing: its registration hooks registered no component"
        info.notes.append(message)
        _warn(info, message)


@functools.lru_cache(maxsize=1)
def default_plugins() -> Plugins:
    """The process-wide plugins (installed entry points), loaded once."""
    return load_plugins()
