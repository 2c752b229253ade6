"""A plugin's own code never hangs, silences, interrupts or corrupts the CLI: imports and registration hooks run
with a time limit (F2G_PLUGIN_TIMEOUT), SystemExit and KeyboardInterrupt from plugin code are contained like other
exceptions, and what a plugin prints while loading goes to stderr, never into --json output."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from f2g_core.contracts import HEAVY_MODULES
from f2g_core.errors import ConfigError
from f2g_core.plugins import load_plugins
from f2g_core.testing import install_fake_distribution

F2G = [sys.executable, "-c", "from f2g_core.cli import main; main()"]
ROOT = Path(__file__).resolve().parents[1]
GOOD = """
from f2g_core.hookspecs import hookimpl
from f2g_core.interfaces import Reward

class Fine(Reward):
    \"\"\"Scores a constant.\"\"\"
    name = "fine-{tag}"
    def score(self, batch):
        return [1.0] * len(batch)

{body}
"""
BEHAVIOURS = {
    "sleepy": "import time\ntime.sleep(120)\n",
    "sleepyhook": "@hookimpl\ndef register_rewards(register):\n    import time\n    time.sleep(120)\n",
    "exits": "import sys\nsys.exit(3)\n",
    "interrupts": "raise KeyboardInterrupt\n",
    "exitshook": "@hookimpl\ndef register_rewards(register):\n    raise SystemExit(3)\n",
    "chatty": "print('hello from a chatty plugin')\n@hookimpl\ndef register_rewards(register):\n"
    "    print('registering')\n    register(Fine)\n",
}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every behaviour as an installed distribution ``bad-<name>`` with entry point ``<name>``, plus ``good``."""
    for name, body in {
        **BEHAVIOURS,
        "good": "@hookimpl\ndef register_rewards(register):\n    register(Fine)\n",
    }.items():
        module = f"isolation_{name}_{tmp_path.name.replace('-', '_')}"
        (tmp_path / f"{module}.py").write_text(GOOD.replace("{tag}", name).replace("{body}", body))
        install_fake_distribution(tmp_path, f"bad-{name}", "1.0", f"{name} = {module}")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("F2G_STRICT_PLUGINS", raising=False)
    monkeypatch.setenv("F2G_PLUGIN_TIMEOUT", "1")
    return tmp_path


def _f2g(site: Path, plugins: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
        "F2G_LOAD_PLUGINS": plugins,
        "F2G_PLUGIN_TIMEOUT": "1",
        "COLUMNS": "250",
    }
    env.pop("F2G_STRICT_PLUGINS", None)
    return subprocess.run([*F2G, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("name", ["sleepy", "sleepyhook"])
def test_a_plugin_that_hangs_is_reported_by_name_within_the_time_limit(site: Path, monkeypatch, name: str) -> None:
    monkeypatch.setenv("F2G_LOAD_PLUGINS", f"{name},good")
    started = time.monotonic()
    with pytest.warns(UserWarning, match=rf"'{name}' \(bad-{name} 1.0\).*did not finish within 1 s"):
        plugins = load_plugins()
    assert time.monotonic() - started < 30
    assert plugins.registry.names("reward") == ["fine-good", "remote"]  # remote: the core's built-in reward
    assert "F2G_PLUGIN_TIMEOUT" in next(info.error for info in plugins.infos if info.name == name)


@pytest.mark.parametrize("name", ["sleepy", "sleepyhook"])
def test_f2g_plugins_does_not_hang_on_a_hanging_plugin(site: Path, name: str) -> None:
    done = _f2g(site, f"{name},good", "plugins")
    assert done.returncode == 0, done.stderr
    assert "did not finish within 1 s" in done.stdout and name in done.stdout


@pytest.mark.parametrize("name", ["exits", "interrupts", "exitshook"])
def test_system_exit_and_keyboard_interrupt_from_a_plugin_are_contained(site: Path, name: str) -> None:
    done = _f2g(site, f"{name},good", "list", "rewards", "--json")
    assert done.returncode == 0, done.stderr
    assert [entry["name"] for entry in json.loads(done.stdout)] == ["fine-good", "remote"]  # remote: built in
    assert "interrupted" not in done.stderr
    assert f"'{name}' (bad-{name} 1.0)" in done.stderr and (
        "SystemExit" in done.stderr or "KeyboardInterrupt" in done.stderr
    )


def test_what_a_plugin_prints_never_corrupts_json(site: Path) -> None:
    done = _f2g(site, "chatty,good", "list", "rewards", "--json")
    assert done.returncode == 0, done.stderr
    assert sorted(entry["name"] for entry in json.loads(done.stdout)) == ["fine-chatty", "fine-good", "remote"]
    assert "hello from a chatty plugin" in done.stderr and "registering" in done.stderr


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_a_bad_plugin_timeout_is_a_config_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("F2G_PLUGIN_TIMEOUT", value)
    with pytest.raises(ConfigError, match="F2G_PLUGIN_TIMEOUT"):
        load_plugins(entry_point_group=None)


def test_loading_every_installed_plugin_imports_no_heavy_module() -> None:
    """Every `f2g` command runs the installed plugins' registration hooks: none may import torch, scipy & co. (one
    registration importing torch through ``f2g_core.eval.metrics`` made each command, and each CLI test, 3 s slower).
    """
    heavy = (*HEAVY_MODULES, "scipy")
    code = (
        "import sys; from f2g_core.plugins import default_plugins; default_plugins().registry; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"loading the plugins imported heavy modules: {done.stdout.strip()}"
