"""f2g-eval's plugin: adds ``f2g eval`` to the ``f2g`` command line."""

from __future__ import annotations

from typing import Any

from f2g_core.hookspecs import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from f2g_eval.cli import register

    register(cli)
