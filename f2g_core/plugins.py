"""The plugin manager: built-in plugins plus entry points of group ``f2g``, each loaded in isolation.

A plugin that fails to import, or whose registration hook raises, is recorded (distribution, version, error) and
reported by ``f2g plugins`` and a warning; it never stops the other plugins or the CLI. Environment variables:

* ``F2G_LOAD_PLUGINS``: unset = load every installed plugin; empty = none; ``a,b`` = only those entry-point names
  (built-in plugins always load).
* ``F2G_STRICT_PLUGINS=1``: a broken plugin is a fatal :class:`PluginError` instead (useful in CI).
"""

from __future__ import annotations

import functools
import importlib
import os
import traceback
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy
from pluggy import HookImpl

from f2g_core import hookspecs
from f2g_core.errors import PluginError
from f2g_core.registry import Kind, Registry

BUILTIN_PLUGINS = ("f2g_core.default_plugins.combiners", "f2g_core.default_plugins.samplers")
HOOKS: dict[Kind, str] = {
    "reward": "register_rewards",
    "combiner": "register_combiners",
    "backbone": "register_backbones",
    "sampler": "register_samplers",
}


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
    builtin: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Plugins:
    """A plugin manager, what each plugin registered, and the resulting registry."""

    manager: pluggy.PluginManager
    registry: Registry
    infos: list[PluginInfo]

    @property
    def failures(self) -> list[PluginInfo]:
        return [info for info in self.infos if not info.ok]


def _strict() -> bool:
    return os.environ.get("F2G_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}


def _selected(names: Iterable[EntryPoint]) -> list[EntryPoint]:
    wanted = os.environ.get("F2G_LOAD_PLUGINS")
    points = sorted(names, key=lambda ep: ep.name)
    if wanted is None:
        return points
    allowed = {name.strip() for name in wanted.split(",") if name.strip()}
    return [ep for ep in points if ep.name in allowed]


def _fail(info: PluginInfo, error: BaseException) -> None:
    info.error = f"{type(error).__name__}: {error}"
    info.details = "".join(traceback.format_exception(error))
    if _strict():
        raise PluginError(f"plugin {info.name!r} ({info.distribution or info.module}) failed: {info.error}") from error
    warnings.warn(
        f"f2g plugin {info.name!r} from {info.distribution or info.module} {info.version or ''} failed to load and "
        f"is skipped: {info.error} (run `f2g plugins` for details)",
        stacklevel=3,
    )


def new_manager() -> pluggy.PluginManager:
    """A plugin manager knowing the f2g hook specs and nothing else."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def _add(manager: pluggy.PluginManager, plugin: Any, info: PluginInfo) -> bool:
    try:
        manager.register(plugin, name=info.name)
        manager.check_pending()
    except Exception as error:
        if manager.is_registered(plugin):
            manager.unregister(plugin)
        _fail(info, error)
        return False
    return True


def load_plugins(
    extra: Iterable[tuple[str, Any]] = (), entry_point_group: str | None = hookspecs.PROJECT_NAME
) -> Plugins:
    """Build a plugin manager and registry from the built-ins, installed entry points and ``extra`` plugins.

    ``extra`` is ``(name, module_or_object)`` pairs (tests register throwaway plugins this way);
    ``entry_point_group=None`` skips installed plugins entirely (an isolated registry).
    """
    manager = new_manager()
    infos: list[PluginInfo] = []
    for module_name in BUILTIN_PLUGINS:
        info = PluginInfo(
            name=module_name.rsplit(".", 1)[-1], module=module_name, distribution="f2g-core", builtin=True
        )
        infos.append(info)
        _add(manager, importlib.import_module(module_name), info)
    if entry_point_group is not None:
        for point in _selected(entry_points(group=entry_point_group)):
            dist = point.dist
            info = PluginInfo(
                name=point.name,
                module=point.value,
                distribution=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
            )
            infos.append(info)
            try:
                loaded = point.load()
            except Exception as error:  # a broken plugin must never break the CLI
                _fail(info, error)
                continue
            _add(manager, loaded, info)
    for name, plugin in extra:
        info = PluginInfo(name=name, module=getattr(plugin, "__name__", repr(plugin)))
        infos.append(info)
        _add(manager, plugin, info)
    registry = Registry()
    impls = {kind: getattr(manager.hook, hook).get_hookimpls() for kind, hook in HOOKS.items()}
    for info in infos:
        if info.ok:
            _register_all(
                registry,
                info,
                [(kind, impl) for kind in HOOKS for impl in impls[kind] if impl.plugin_name == info.name],
            )
    return Plugins(manager=manager, registry=registry, infos=infos)


def _register_all(registry: Registry, info: PluginInfo, impls: list[tuple[Kind, HookImpl]]) -> None:
    """Run one plugin's registration hooks; all of its components register, or (on any error) none do."""
    staged: list[tuple[Kind, type, tuple[str, ...]]] = []
    try:
        for kind, impl in impls:

            def register(cls: type, aliases: Iterable[str] = (), _kind: Kind = kind) -> None:
                staged.append((_kind, cls, tuple(aliases)))

            impl.function(**{arg: register for arg in impl.argnames if arg == "register"})
        for kind, cls, aliases in staged:
            registry.add(kind, cls, plugin=info.name, aliases=aliases)
            info.components.append(f"{kind}:{cls.name}")  # type: ignore[attr-defined]
    except Exception as error:
        registry.remove_plugin(info.name)
        info.components.clear()
        _fail(info, error)


@functools.lru_cache(maxsize=1)
def default_plugins() -> Plugins:
    """The process-wide plugins (installed entry points), loaded once."""
    return load_plugins()
