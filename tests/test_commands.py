"""Commands come from the ``register_commands`` hook, the built-in ones too: a plugin adds one as f2g-eval adds
``f2g eval``, and a plugin whose hook raises, or that takes a built-in's name, costs one warning line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from f2g_core.cli import app
from f2g_core.plugins import load_plugins
from f2g_core.testing import install_fake_distribution

F2G = [sys.executable, "-c", "from f2g_core.cli import main; main()"]
PLUGIN = """
import typer
from f2g_core import hookimpl


@hookimpl
def register_commands(cli):
    {body}
"""
HELLO = """@cli.command(name="hello")
    def hello(name: str = "world") -> None:
        '''Say hello.'''
        typer.echo(f"hello {name}")"""


def _f2g(site: Path, plugins: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "F2G_LOAD_PLUGINS": plugins, "COLUMNS": "200"}
    return subprocess.run([*F2G, *args], env=env, capture_output=True, text=True, timeout=120)


def _install(site: Path, name: str, body: str) -> None:
    (site / f"{name}_commands.py").write_text(PLUGIN.replace("{body}", body))
    install_fake_distribution(site, f"{name}-commands", "0.1", f"{name} = {name}_commands")


def test_the_built_in_commands_come_through_the_hook() -> None:
    assert not app.registered_commands and not app.registered_groups  # the app itself defines none
    plugins = load_plugins(entry_point_group=None)
    owners = [impl.plugin_name for impl in plugins.manager.hook.register_commands.get_hookimpls()]
    assert owners == ["commands"]
    info = plugins.info("commands")
    assert info is not None and info.builtin and info.distribution == "f2g-core"
    group = typer.main.get_command(app)
    names = group.list_commands(group.context_class(group, info_name="f2g"))  # type: ignore[attr-defined]
    assert {"generate", "run", "plugins", "list", "keys", "plugin"} <= set(names)


def test_a_plugin_adds_a_command(tmp_path: Path) -> None:
    _install(tmp_path, "greeter", HELLO)
    done = _f2g(tmp_path, "greeter", "hello", "--name", "f2g")
    assert done.returncode == 0 and done.stdout.strip() == "hello f2g", done.stderr
    listed = _f2g(tmp_path, "greeter", "--help")
    assert "hello" in listed.stdout and "generate" in listed.stdout


def test_a_plugin_whose_register_commands_raises_costs_one_warning_line(tmp_path: Path) -> None:
    _install(tmp_path, "greeter", HELLO)
    _install(tmp_path, "broken", "raise RuntimeError('no commands today')")
    done = _f2g(tmp_path, "greeter,broken", "list", "samplers")
    assert done.returncode == 0 and "free2guide" in done.stdout, done.stderr
    warned = [line for line in done.stderr.splitlines() if line.strip()]
    assert warned == [
        "warning: f2g plugin 'broken' (broken-commands 0.1): register_commands failed and is skipped: "
        "RuntimeError: no commands today"
    ], done.stderr
    assert _f2g(tmp_path, "greeter,broken", "hello").stdout.strip() == "hello world"  # the other plugin's works


def test_a_plugin_cannot_take_a_built_in_command(tmp_path: Path) -> None:
    _install(
        tmp_path,
        "squatter",
        '@cli.command(name="generate")\n    def generate() -> None:\n        typer.echo("hijacked")',
    )
    done = _f2g(tmp_path, "squatter", "generate", "--help")
    assert done.returncode == 0 and "hijacked" not in done.stdout and "--prompts" in done.stdout
    assert "f2g plugin 'squatter' (squatter-commands 0.1): command 'generate' is taken and is skipped" in done.stderr
