"""The ``f2g serve`` command group, one of f2g-core's built-in commands (added by ``cli.add_builtin_commands``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

serve_app = typer.Typer(help="Serve a component to runs in other Python environments.", no_args_is_help=True)


@serve_app.command("reward")
def serve_reward(
    reward: Annotated[str, typer.Argument(help="A registered reward id (f2g list rewards).")],
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML file of the reward's options (a config's options:).")
    ] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")] = 8765,
    max_batch: Annotated[int, typer.Option(min=1, help="Requests one call of the reward takes at most.")] = 64,
) -> None:
    """Serve a registered reward over HTTP on 127.0.0.1 until Ctrl-C: runs elsewhere use it as `type: remote`.

    The reward loads before the server answers; the line `serving reward REWARD at URL` says it is ready.
    """
    from rich.console import Console

    from f2g_core.errors import ComponentError, ConfigError
    from f2g_core.interfaces import Reward
    from f2g_core.plugins import default_plugins
    from f2g_core.serving.server import RewardServer

    options = _options(config)
    component = default_plugins().registry.build("reward", reward, options, "--config" if config else "serve")
    assert isinstance(component, Reward)
    try:
        component.load()
    except Exception as error:
        raise ComponentError(f"reward {reward!r} failed to load: {type(error).__name__}: {error}") from error
    try:
        server = RewardServer(component, port, max_batch)
    except OSError as error:
        raise ConfigError(f"--port {port}: cannot listen on 127.0.0.1:{port} ({error}); pick another port") from None
    console = Console(soft_wrap=True)
    console.print(f"serving reward {reward} at {server.url} (python {server.health()['prefix']}); Ctrl-C stops")
    try:
        server.serve_forever()
    finally:
        server.close()


def _options(path: Path | None) -> dict[str, Any]:
    """The reward's options from ``--config`` (YAML, TOML or JSON), none without it."""
    from f2g_core.config import read_config_file

    return read_config_file(path) if path is not None else {}
