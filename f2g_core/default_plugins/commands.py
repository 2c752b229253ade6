"""The built-in commands of ``f2g`` (generate, run, plugins, list, keys, plugin new), added through the same
``register_commands`` hook as every plugin's commands.

The command-line module is imported only when the hook is called, i.e. by the ``f2g`` command itself: loading the
plugins from the Python API never imports the CLI layer.
"""

from __future__ import annotations

from typing import Any

from f2g_core.hookspecs import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from f2g_core.cli import add_builtin_commands

    add_builtin_commands(cli)
