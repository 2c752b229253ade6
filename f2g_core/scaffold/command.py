"""The ``f2g plugin`` command group (``f2g plugin new``), registered on the main app by one line in cli.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

plugin_app = typer.Typer(help="Create plugin packages.", no_args_is_help=True)


@plugin_app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="Component id, e.g. my-sharpness (the folder made is NAME).")],
    kind: Annotated[str, typer.Option(help="reward, async-reward, combiner, backbone or sampler.")] = "reward",
    directory: Annotated[Path, typer.Option("--dir", help="Where to create the NAME folder.")] = Path("."),
) -> None:
    """Scaffold a plugin package: entry point, Options, tests on the shipped fixtures, README, CI workflow."""
    from f2g_core.scaffold import new_plugin

    target = new_plugin(name, kind, directory)
    Console(highlight=False).print(
        f"created {target} ({kind}). Next:\n  pip install -e {target}\n  f2g plugins\n"
        f"  cd {target} && pip install -e '.[test]' && F2G_STRICT_PLUGINS=1 python -m pytest",
        markup=False,
    )
