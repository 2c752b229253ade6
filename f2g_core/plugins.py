"""The plugin manager: built-in plugins plus entry points of group ``f2g``, each loaded in isolation.

A plugin that fails to import, or whose registration hook raises (any exception, ``SystemExit`` and
``KeyboardInterrupt`` included), or that does not finish importing or registering within ``F2G_PLUGIN_TIMEOUT``
seconds, is recorded (distribution, version, error) and reported by ``f2g plugins`` and a warning; it never stops
the other plugins or the CLI. What a plugin prints while loading goes to stderr, so ``--json`` output stays valid.

Precedence (docs/plugins.md) never depends on a package's *name*: the built-in components of f2g-core always win;
an id registered by two installed distributions belongs to the one the user chose with ``F2G_PREFER`` (or the
``prefer`` argument of :func:`load_plugins`), and otherwise to neither: using it is an error naming both
distributions and the setting that resolves it. Plugins load built-ins first, then by entry-point name; within
one distribution, and for in-process plugins, the first registration of an id wins unless a later one registers
with ``override=True`` (logged).

Environment variables:

* ``F2G_LOAD_PLUGINS``: unset = load every installed plugin; empty = none; ``a,b`` = only those entry-point names
  (built-in plugins always load; a name that matches no installed plugin warns).
* ``F2G_PREFER``: ``ID=DISTRIBUTION[,ID=DISTRIBUTION...]`` settles ids that two installed distributions register
  (component ids, eval suite and metric names, and ``default_run_config`` for the default run configuration).
* ``F2G_PLUGIN_TIMEOUT``: seconds a plugin may take to import, and then to register (default 60).
* ``F2G_STRICT_PLUGINS=1``: every plugin problem (a failure, a skipped duplicate, a clash, a plugin registering
  nothing) is a fatal :class:`PluginError` instead of a warning (useful in CI).
* ``F2G_TRACE_PLUGINS=1``: print every hook call, its arguments and results to stderr (pluggy's tracing).

Every kind of component (rewards, combiners, backbones, samplers, eval suites and metrics) registers through this
one path: the same checks, the same precedence rule and the same provenance. Hooks are called through pluggy, one
plugin at a time (:func:`call_each`): hook wrappers and tracing see every call, and a plugin that raises is skipped
alone, never breaking the command or another plugin.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import functools
import importlib
import math
import os
import sys
import threading
import traceback
import types
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal, TypeVar, cast

import pluggy

from f2g_core import hookspecs
from f2g_core.errors import ConfigError, PluginError
from f2g_core.registry import Entry, Kind, Registry

BUILTIN_PLUGINS = (
    "f2g_core.default_plugins.combiners",
    "f2g_core.default_plugins.samplers",
    "f2g_core.default_plugins.search_methods",
    "f2g_core.default_plugins.commands",
    "f2g_core.default_plugins.rewards",
)
HOOKS: dict[Kind, str] = {
    "reward": "register_rewards",
    "combiner": "register_combiners",
    "backbone": "register_backbones",
    "sampler": "register_samplers",
    "suite": "register_suites",
    "metric": "register_metrics",
}
PREFER_ENV = "F2G_PREFER"
TIMEOUT_ENV = "F2G_PLUGIN_TIMEOUT"
TRACE_ENV = "F2G_TRACE_PLUGINS"
DEFAULT_TIMEOUT_S = 60.0
DEFAULTS_KEY = "default_run_config"
"""The ``F2G_PREFER`` key that chooses which distribution's ``default_run_config`` is used."""
T = TypeVar("T")


def normal_name(distribution: str) -> str:
    """A distribution name normalised as pip does (case, ``_`` and ``.``), so ``F2G_PREFER`` matches either way."""
    return distribution.strip().lower().replace("_", "-").replace(".", "-")


def preferences(text: str | None = None) -> dict[str, str]:
    """``F2G_PREFER`` (or ``text``) as ``{id: normalised distribution}``; a malformed value is a ConfigError."""
    text = os.environ.get(PREFER_ENV, "") if text is None else text
    chosen: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, distribution = item.partition("=")
        if not sep or not key.strip() or not distribution.strip():
            raise ConfigError(
                f"{PREFER_ENV}={text!r}: write ID=DISTRIBUTION pairs separated by commas, "
                "e.g. shapes-judge=f2g-plugin-shapes"
            )
        chosen[key.strip()] = normal_name(distribution)
    return chosen


def plugin_timeout() -> float:
    """Seconds a plugin may take to import, and then to register (``F2G_PLUGIN_TIMEOUT``, default 60)."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{TIMEOUT_ENV}={text!r}: give the seconds a plugin may take to load, a number > 0")
    return value


Verdict = Literal["builtin", "first", "keep", "replace", "clash"]


def settle(key: str, holder: PluginInfo, newcomer: PluginInfo, prefer: Mapping[str, str]) -> Verdict:
    """Who owns ``key`` when ``newcomer`` registers it after ``holder``; never decided by a package name.

    ``builtin``: the holder is a built-in of f2g-core, which always wins. ``first``: in-process plugins or one
    distribution's own entry points; the first registration wins unless a later one asks to override.
    ``keep`` / ``replace``: two installed distributions, settled by the user's ``prefer`` (``F2G_PREFER``).
    ``clash``: two installed distributions and no preference naming either: neither may have it.
    """
    if holder.builtin:
        return "builtin"
    if not holder.distribution or not newcomer.distribution:
        return "first"
    if normal_name(holder.distribution) == normal_name(newcomer.distribution):
        return "first"
    chosen = prefer.get(key)
    if chosen == normal_name(newcomer.distribution):
        return "replace"
    if chosen == normal_name(holder.distribution):
        return "keep"
    return "clash"


def clash_message(what: str, key: str, claimants: Iterable[PluginInfo], prefer: Mapping[str, str]) -> str:
    """The error for an id that installed distributions clash over: both named, and the setting that settles it."""
    owners = list(claimants)
    distributions = [info.distribution or info.module for info in owners]
    chosen = prefer.get(key)
    ignored = f" ({PREFER_ENV} names {chosen!r}, which does not register it)" if chosen else ""
    return (
        f"{what} {key!r} is registered by {len(owners)} installed distributions: "
        f"{', '.join(info.label for info in owners)}; none of them is used until you choose one{ignored}: "
        f"set {PREFER_ENV}={key}={distributions[0]} (or "
        + " or ".join(f"{key}={d}" for d in distributions[1:])
        + "), or uninstall one"
    )


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
    prefer: dict[str, str] = field(default_factory=dict)
    """The user's choices between clashing distributions (``F2G_PREFER`` or ``load_plugins(prefer=...)``)."""

    def info(self, name: str) -> PluginInfo | None:
        """The plugin registered under ``name``, if any."""
        return next((info for info in self.infos if info.name == name), None)

    @property
    def failures(self) -> list[PluginInfo]:
        return [info for info in self.infos if not info.ok]

    def call_each(self, hook_name: str, only: str | None = None, **kwargs: Any) -> list[tuple[PluginInfo, Any]]:
        """Call every plugin's implementation of ``hook_name`` (or plugin ``only``'s), one plugin at a time, in load
        order, through pluggy (:func:`call_plugin`).

        ``(plugin, result)`` for each plugin that answered; one that raises (``SystemExit`` included) is skipped
        with one warning line naming it, so a broken plugin never breaks the command or another plugin.
        """
        answers = []
        for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
            if impl.wrapper or impl.hookwrapper or (only is not None and impl.plugin_name != only):
                continue
            info = self.info(impl.plugin_name) or PluginInfo(impl.plugin_name, impl.plugin_name)
            try:
                result = call_plugin(self.manager, hook_name, impl.plugin_name, **kwargs)
            except (Exception, SystemExit) as error:  # plugin code: a broken plugin never breaks the CLI
                warnings.warn(
                    f"f2g plugin {info.label}: {hook_name} failed and is skipped: {type(error).__name__}: {error}",
                    stacklevel=2,
                )
                continue
            answers.append((info, result))
        return answers

    def default_run_config(self) -> dict[str, Any]:
        """The non-empty ``default_run_config`` of the installed plugins (``{}`` when none gives one).

        A plugin whose hook raises is skipped with a warning. When several distributions give defaults, the one
        ``F2G_PREFER=default_run_config=DIST`` names is used; without that choice it is a ConfigError naming them.
        """
        given = [
            (info, dict(cast("Mapping[str, Any]", result)))
            for info, result in self.call_each("default_run_config")
            if result
        ]
        owners = {normal_name(info.distribution or info.module): (info, data) for info, data in given}
        if len(owners) <= 1:
            return given[0][1] if given else {}
        chosen = self.prefer.get(DEFAULTS_KEY)
        if chosen in owners:
            return owners[chosen][1]
        raise ConfigError(
            clash_message("the default run configuration", DEFAULTS_KEY, [i for i, _ in given], self.prefer)
        )


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
    """Record ``info`` as failed with ``error`` and report it."""
    info.error = f"{type(error).__name__}: {error}{hint}"
    info.details = "".join(traceback.format_exception(error))
    _warn(info, f"failed to load and is skipped: {info.error} (run `f2g plugins --all` for details)", error)


def _distribution(point: EntryPoint) -> tuple[str | None, str | None]:
    dist = point.dist
    return (dist.metadata["Name"], dist.version) if dist else (None, None)


def _selected(points: Iterable[EntryPoint], registry: Registry) -> list[EntryPoint]:
    """Entry points in load order, filtered by ``F2G_LOAD_PLUGINS``; deselected ones are noted in the registry."""
    ordered = sorted(points, key=lambda ep: (ep.name, _distribution(ep)[0] or ""))
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
    """A plugin manager knowing the f2g hook specs and nothing else; with ``F2G_TRACE_PLUGINS=1`` it prints every
    hook call, its arguments and its result to stderr (pluggy's tracing)."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    if os.environ.get(TRACE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        manager.trace.root.setwriter(sys.stderr.write)
        manager.enable_tracing()
    return manager


def call_plugin(manager: pluggy.PluginManager, hook_name: str, plugin_name: str, **kwargs: Any) -> Any:
    """Call plugin ``plugin_name``'s implementation of ``hook_name`` alone, through pluggy's hook caller: every
    plugin's hook wrappers run around it and tracing sees it, as for a call of the whole hook.

    The result is the implementation's return value (None when it returns nothing). Calling plugins one at a time
    is what isolates them: a plugin that raises never stops another's implementation from running.
    """
    caller = getattr(manager.hook, hook_name)
    others = {
        impl.plugin
        for impl in caller.get_hookimpls()
        if impl.plugin_name != plugin_name and not (impl.wrapper or impl.hookwrapper)
    }
    results = manager.subset_hook_caller(hook_name, others)(**kwargs)
    if caller.spec is not None and caller.spec.opts.get("firstresult"):
        return results
    return results[0] if results else None


class _StandIn(types.SimpleNamespace):
    """A hashable copy of an unhashable plugin object's public attributes (a ``SimpleNamespace`` of hook functions,
    as tests and scripts write them): pluggy keeps plugins in sets when it calls a subset of them."""

    __hash__ = object.__hash__  # type: ignore[assignment]
    __eq__ = object.__eq__


def _hashable(plugin: Any) -> Any:
    try:
        hash(plugin)
    except TypeError:
        return _StandIn(**{name: getattr(plugin, name) for name in dir(plugin) if not name.startswith("_")})
    return plugin


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


def _add(manager: pluggy.PluginManager, original: Any, info: PluginInfo) -> bool:
    plugin = _hashable(original)
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
    prefer: Mapping[str, str] | None = None,
) -> Plugins:
    """Build a plugin manager and registry from the built-ins, installed entry points and ``extra`` plugins.

    ``extra`` is ``(name, module_or_object)`` pairs (tests register throwaway plugins this way), loaded last;
    ``entry_point_group=None`` skips installed plugins entirely (an isolated registry). ``strict`` (default:
    ``F2G_STRICT_PLUGINS``) makes every plugin problem a :class:`PluginError` instead of a warning. ``prefer``
    (default: ``F2G_PREFER``) maps ids to the distribution that should provide them when two installed ones do.
    What plugins print while loading goes to stderr.
    """
    token = _STRICT.set(strict)
    chosen = preferences() if prefer is None else {key: normal_name(dist) for key, dist in prefer.items()}
    try:
        with contextlib.redirect_stdout(sys.stderr):
            return _load_plugins(extra, entry_point_group, chosen, plugin_timeout())
    finally:
        _STRICT.reset(token)


def _isolated(info: PluginInfo, what: str, function: Callable[[], T], timeout: float) -> T:
    """Run plugin code in a daemon thread with a time limit; whatever it raises (``SystemExit`` and
    ``KeyboardInterrupt`` included) comes back as an ordinary exception, and a hang as a :class:`PluginError`
    naming the plugin. A real Ctrl-C reaches the main thread, which is only waiting, and stops the command."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # plugin code: SystemExit and KeyboardInterrupt are contained too
            outcome["error"] = error

    thread = threading.Thread(target=target, name=f"f2g-plugin-{info.name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise PluginError(
            f"{what} did not finish within {timeout:g} s ({TIMEOUT_ENV}); plugins must not block while loading "
            "(load models and clients lazily)"
        )
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, Exception):
            raise error
        raise PluginError(f"{what} raised {type(error).__name__}({error})") from error
    return cast("T", outcome["value"])


def _load_plugins(
    extra: Iterable[tuple[str, Any]], entry_point_group: str | None, prefer: dict[str, str], timeout: float
) -> Plugins:
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
            taken = any(other.name == point.name for other in infos)  # two distributions, one entry-point name
            name = f"{point.name}@{distribution}" if taken else point.name
            info = PluginInfo(name=name, module=point.value, distribution=distribution, version=version)
            infos.append(info)
            try:
                loaded = _isolated(info, "importing it", point.load, timeout)
            except Exception as error:  # a broken plugin must never break the CLI
                _fail(info, error)
                continue
            _add(manager, loaded, info)
    for name, plugin in extra:
        info = PluginInfo(name=name, module=getattr(plugin, "__name__", type(plugin).__name__))
        infos.append(info)
        _add(manager, plugin, info)
    loaded_plugins = Plugins(manager=manager, registry=registry, infos=infos, prefer=prefer)
    implemented = {
        (kind, impl.plugin_name)
        for kind, hook in HOOKS.items()
        for impl in getattr(manager.hook, hook).get_hookimpls()
        if not (impl.wrapper or impl.hookwrapper)
    }
    for info in infos:
        if info.ok:
            kinds = [kind for kind in HOOKS if (kind, info.name) in implemented]
            _register_all(loaded_plugins, info, kinds, timeout)
    for info in infos:
        if not info.ok:
            registry.unavailable[info.label] = f"failed to load ({info.error})"
    return loaded_plugins


def _register_all(plugins: Plugins, info: PluginInfo, kinds: list[Kind], timeout: float) -> None:
    """Run one plugin's registration hooks (through pluggy, isolated, with the time limit), then add its
    components one by one, whatever their kind, by the same checks and precedence rule.

    A hook that raises or hangs registers none of the plugin's components (it is half-configured). A component
    whose id is taken, or that is not a valid component, is skipped alone, with a warning.
    """
    staged: list[tuple[Kind, type, tuple[str, ...], bool]] = []

    def run_hooks() -> list[tuple[Kind, type, tuple[str, ...], bool]]:
        for kind in kinds:

            def register(cls: type, aliases: Iterable[str] = (), override: bool = False, _kind: Kind = kind) -> None:
                staged.append((_kind, cls, tuple(aliases), bool(override)))

            call_plugin(plugins.manager, HOOKS[kind], info.name, register=register)
        return list(staged)

    try:
        registered = _isolated(info, "its registration hooks", run_hooks, timeout) if kinds else []
    except Exception as error:
        _fail(info, error)
        return
    for kind, cls, aliases, override in registered:
        try:
            plugins.registry.check(kind, cls, info.name)
            _claim(plugins, info, kind, cls, aliases, override)
        except PluginError as error:
            info.skipped.append(f"{kind}:{getattr(cls, 'name', cls)!s} ({error})")
            _warn(info, str(error), error)
    if kinds and not registered:
        message = "registers nothing: its registration hooks registered no component"
        info.notes.append(message)
        _warn(info, message)


def _claim(plugins: Plugins, info: PluginInfo, kind: Kind, cls: type, aliases: tuple[str, ...], override: bool) -> None:
    """Register one component of ``info`` under its id and aliases, settling a taken id by :func:`settle`."""
    registry, name = plugins.registry, cast("str", cls.name)  # type: ignore[attr-defined]
    keys = (name, *aliases)
    table, clashes = registry.entries[kind], registry.clashes[kind]
    label = f"{kind}:{name}"

    def add(replace: bool, why: str) -> None:
        replaced = registry.add(
            kind, cast("Any", cls), info.name, aliases, info.distribution, info.version, override=replace
        )
        info.components.append(label)
        if replaced is not None:
            old = plugins.info(replaced.plugin)
            if old is not None and f"{kind}:{replaced.name}" in old.components:
                old.components.remove(f"{kind}:{replaced.name}")
                old.skipped.append(f"{kind}:{replaced.name} (replaced by plugin {info.label}: {why})")
            message = (
                f"overrides {kind} {replaced.name!r} of plugin {replaced.plugin!r} "
                f"({replaced.distribution or replaced.cls.__module__}) ({why})"
            )
            info.notes.append(message)
            if why.startswith("registered with"):
                warnings.warn(f"f2g plugin {info.label}: {message}", stacklevel=4)

    contested = [key for key in keys if key in clashes]
    if contested:
        key = contested[0]
        claimants = [*_clash_owners(plugins, kind, key), info]
        if plugins.prefer.get(key) == normal_name(info.distribution or ""):
            for other in keys:
                clashes.pop(other, None)
            add(True, f"chosen by {PREFER_ENV}")
            return
        message = clash_message(f"{kind} id", key, claimants, plugins.prefer)
        for other in keys:
            clashes[other] = message
        raise PluginError(message)
    holder: Entry | None = next((table[key] for key in keys if key in table and table[key].cls is not cls), None)
    if holder is None:
        add(override, "registered with override=True")
        return
    held_by = plugins.info(holder.plugin) or PluginInfo(holder.plugin, holder.cls.__module__)
    key = next(key for key in keys if key in (holder.name, *holder.aliases))
    verdict = settle(key, held_by, info, plugins.prefer)
    if verdict == "builtin":
        raise PluginError(
            f"{kind} id {key!r} is a built-in of f2g-core, which always wins; plugin {info.label} tried to "
            f"register {cls.__module__}.{cls.__qualname__} under it and that component is skipped (rename it)"
        )
    if verdict == "first":
        add(override, "registered with override=True")
    elif verdict == "replace":
        add(True, f"chosen by {PREFER_ENV}")
    elif verdict == "keep":
        info.skipped.append(f"{label} ({PREFER_ENV} chose {held_by.distribution} for {key!r})")
    else:
        registry.remove(kind, holder)
        if f"{kind}:{holder.name}" in held_by.components:
            held_by.components.remove(f"{kind}:{holder.name}")
        message = clash_message(f"{kind} id", key, [held_by, info], plugins.prefer)
        held_by.skipped.append(f"{kind}:{holder.name} ({message})")
        for other in (*keys, holder.name, *holder.aliases):
            clashes[other] = message
        raise PluginError(message)


def _clash_owners(plugins: Plugins, kind: Kind, key: str) -> list[PluginInfo]:
    """The plugins already clashing over ``key`` (those whose skipped list names it as a clash)."""
    marker = f"{kind} id {key!r} is registered by"
    return [info for info in plugins.infos if any(marker in skipped for skipped in info.skipped)]


@functools.lru_cache(maxsize=1)
def default_plugins() -> Plugins:
    """The process-wide plugins (installed entry points), loaded once."""
    return load_plugins()
