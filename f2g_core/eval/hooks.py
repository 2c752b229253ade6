"""Collecting what plugins register through the eval hooks (``register_suites``, ``register_metrics``).

Each plugin's registrations are taken all-or-nothing and in isolation: a plugin whose hook raises is skipped with
a warning naming it, like a broken reward plugin, so it never breaks ``f2g eval`` or another plugin.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from f2g_core.plugins import Plugins, default_plugins


def collect(hook_name: str, plugins: Plugins | None = None) -> dict[str, tuple[str, Any]]:
    """``name -> (plugin name, registered class)`` for every class registered through ``hook_name``."""
    plugins = plugins if plugins is not None else default_plugins()
    hook = getattr(plugins.manager.hook, hook_name)
    found: dict[str, tuple[str, Any]] = {}
    for impl in hook.get_hookimpls():
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
                    if key in found and found[key][1] is not cls:
                        raise TypeError(f"{hook_name}: {key!r} is already registered by plugin {found[key][0]!r}")
        except Exception as error:
            warnings.warn(
                f"f2g plugin {impl.plugin_name!r}: {hook_name} failed and is skipped: {type(error).__name__}: {error}",
                stacklevel=2,
            )
            continue
        for cls, aliases in staged:
            for key in (cls.name, *aliases):
                found[key] = (impl.plugin_name, cls)
    return found
