"""Collecting what plugins register through the eval hooks (``register_suites``, ``register_metrics``).

Each plugin's registrations are taken all-or-nothing and in isolation: a plugin whose hook raises is skipped with
a warning naming it, like a broken reward plugin, so it never breaks ``f2g eval`` or another plugin. A name two
plugins register is settled as component ids are (:func:`f2g_core.plugins.settle`): never by a package name; two
installed distributions need the user's ``F2G_PREFER``, and without it using the name is an error naming both.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from f2g_core.errors import ConfigError
from f2g_core.plugins import PluginInfo, Plugins, clash_message, default_plugins, normal_name, settle
from pydantic import BaseModel, ConfigDict


def collect(hook_name: str, plugins: Plugins | None = None) -> dict[str, tuple[str, Any]]:
    """``name -> (plugin name, registered class)`` for every class registered through ``hook_name``.

    A name installed distributions clash over maps to a stand-in class whose construction raises the ConfigError
    that names them and ``F2G_PREFER``.
    """
    plugins = plugins if plugins is not None else default_plugins()
    hook = getattr(plugins.manager.hook, hook_name)
    found: dict[str, tuple[str, Any]] = {}
    clashes: dict[str, list[PluginInfo]] = {}
    for impl in hook.get_hookimpls():
        info = plugins.info(impl.plugin_name) or PluginInfo(impl.plugin_name, impl.plugin_name)
        staged: list[tuple[Any, tuple[str, ...]]] = []

        def register(cls: Any, aliases: Iterable[str] = (), _staged: list[Any] = staged) -> None:
            _staged.append((cls, tuple(aliases)))

        try:
            impl.function(**{arg: register for arg in impl.argnames if arg == "register"})
            for cls, aliases in staged:
                name = getattr(cls, "name", None)
                if not isinstance(name, str) or not name:
                    raise TypeError(f"{cls!r} has no `name` class attribute")
                for key in (name, *aliases):
                    if (
                        key in found
                        and found[key][1] is not cls
                        and _verdict(plugins, found[key][0], info, key)
                        in (
                            "builtin",
                            "first",
                        )
                    ):
                        raise TypeError(f"{hook_name}: {key!r} is already registered by plugin {found[key][0]!r}")
        except (Exception, SystemExit) as error:  # plugin code: a broken plugin never breaks f2g eval
            warnings.warn(
                f"f2g plugin {impl.plugin_name!r}: {hook_name} failed and is skipped: {type(error).__name__}: {error}",
                stacklevel=2,
            )
            continue
        for cls, aliases in staged:
            for key in (cls.name, *aliases):
                if key in clashes:
                    if plugins.prefer.get(key) != normal_name(info.distribution or ""):
                        clashes[key].append(info)
                        continue
                    del clashes[key]
                elif key in found and found[key][1] is not cls:
                    verdict = _verdict(plugins, found[key][0], info, key)
                    if verdict == "keep":
                        continue
                    if verdict == "clash":
                        clashes[key] = [plugins.info(found.pop(key)[0]) or PluginInfo(key, key), info]
                        continue
                found[key] = (impl.plugin_name, cls)
    what = hook_name.removeprefix("register_").removesuffix("s")
    for key, owners in clashes.items():
        message = clash_message(f"{what} name", key, owners, plugins.prefer)
        warnings.warn(f"f2g: {message}", stacklevel=2)
        found[key] = (owners[0].name, _clashed(key, message))
    return found


def _verdict(plugins: Plugins, holder: str, newcomer: PluginInfo, key: str) -> str:
    held = plugins.info(holder) or PluginInfo(holder, holder)
    return settle(key, held, newcomer, plugins.prefer)


def _clashed(name: str, message: str) -> type:
    """A stand-in for a clashed name: any options validate, and building it raises the clash's ConfigError."""

    class Clashed:
        class Options(BaseModel):
            model_config = ConfigDict(extra="allow")

        def __init__(self, options: Any) -> None:
            raise ConfigError(message)

    Clashed.name = name  # type: ignore[attr-defined]
    return Clashed
