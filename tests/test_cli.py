"""The `f2g` command: entry points, exit codes, messages. Most tests run it in this process (``f2g_in_process``,
tests/conftest.py); the first starts the real command, so that a real process's plugin loading is checked too."""

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from f2g_core.testing import install_fake_distribution

F2G = [sys.executable, "-c", "from f2g_core.cli import main; main()"]


def f2g_subprocess(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", **env}
    return subprocess.run([*F2G, *args], capture_output=True, text=True, env=full_env, timeout=120)


@pytest.fixture
def f2g(f2g_in_process: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., Any]:
    return f2g_in_process


@pytest.fixture
def broken_plugin_path(tmp_path: Path) -> Path:
    """A site folder holding an installed distribution whose f2g entry point cannot import."""
    install_fake_distribution(tmp_path, "f2g-plugin-broken", "9.9", "broken = f2g_plugin_broken_missing.plugin")
    return tmp_path


def test_plugins_lists_a_broken_plugin_without_crashing(broken_plugin_path: Path) -> None:
    done = f2g_subprocess("plugins", env={"PYTHONPATH": str(broken_plugin_path), "F2G_LOAD_PLUGINS": "broken"})
    assert done.returncode == 0, done.stderr
    assert "broken" in done.stdout and "f2g-plugin-broken" in done.stdout and "9.9" in done.stdout
    assert "failed" in done.stdout and "ModuleNotFoundError" in done.stdout
    assert "warning:" in done.stderr and "Traceback" not in done.stderr


def test_strict_mode_turns_a_broken_plugin_into_an_error(broken_plugin_path: Path, f2g: Callable[..., Any]) -> None:
    env = {"PYTHONPATH": str(broken_plugin_path), "F2G_LOAD_PLUGINS": "broken", "F2G_STRICT_PLUGINS": "1"}
    done = f2g("plugins", env=env)
    assert done.returncode == 1 and "error:" in done.stderr and "broken" in done.stderr
    assert "Traceback" not in done.stderr


def test_list_shows_components_and_options(f2g: Callable[..., Any]) -> None:
    done = f2g("list", "combiners", "--options")
    assert done.returncode == 0, done.stderr
    for name in ("weighted-sum", "normalized-sum", "consensus", "min_std"):
        assert name in done.stdout


def _config(tmp_path: Path, **extra: object) -> Path:
    test_plugin = tmp_path / "f2g_cli_test_plugin.py"
    test_plugin.write_text("from f2g_core.gaussian_mixture import register_backbones, register_rewards  # noqa: F401\n")
    install_fake_distribution(tmp_path, "f2g-cli-test", "0.1", "clitest = f2g_cli_test_plugin")
    data = {
        "prompt": "the upper-right mode",
        "backbone": {"type": "gaussian-mixture", "options": {"frame_size": 8}},
        "rewards": [{"type": "mode-distance"}],
        "sampler": {"num_steps": 10},
        "guidance": {"method": "free2guide", "options": {"num_candidates": 3, "num_guided_steps": 2}},
        "output": {"dir": str(tmp_path / "runs"), "formats": ["gif"]},
        **extra,
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_run_writes_a_run_directory(tmp_path: Path, f2g: Callable[..., Any]) -> None:
    config = _config(tmp_path)
    done = f2g("run", str(config), "--seed", "3", env={"PYTHONPATH": str(tmp_path), "F2G_LOAD_PLUGINS": "clitest"})
    assert done.returncode == 0, done.stderr
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "trace.json").is_file() and (runs[0] / "video.gif").is_file()
    assert str(runs[0]) in done.stdout.replace("\n", "")
    assert "14 model calls" in done.stdout  # 10 + 2 guided steps × (3 − 1)


def test_generate_with_overrides_and_check(tmp_path: Path, f2g: Callable[..., Any]) -> None:
    config = _config(tmp_path)
    env = {"PYTHONPATH": str(tmp_path), "F2G_LOAD_PLUGINS": "clitest"}
    done = f2g(
        "generate",
        "a prompt",
        "-c",
        str(config),
        "-n",
        "4",
        "--set",
        "guidance.options.num_guided_steps=3",
        "--no-save",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "19 model calls" in done.stdout  # 10 + 3 × (4 − 1)
    assert f2g("run", str(config), "--check", env=env).stdout.strip().endswith("ok")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"guidance": {"options": {"num_candidates": 0}}}, "guidance.options.num_candidates:"),
        ({"sampler": {"num_steps": 10}, "guidance": {"options": {"num_guided_steps": 12}}}, "steps 0..11 are guided"),
        (
            {"rewards": [{"type": "mode-distance", "options": {"detail": "low"}}]},
            "rewards[0].options.detail: unknown key",
        ),
        ({"rewards": [{"type": "clip"}]}, "unknown reward 'clip'"),
    ],
)
def test_bad_configs_exit_2_with_one_line(
    tmp_path: Path, extra: dict[str, object], expected: str, f2g: Callable[..., Any]
) -> None:
    config = _config(tmp_path, **extra)
    done = f2g("run", str(config), env={"PYTHONPATH": str(tmp_path), "F2G_LOAD_PLUGINS": "clitest"})
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in done.stderr


def test_debug_shows_the_traceback(tmp_path: Path, f2g: Callable[..., Any]) -> None:
    done = f2g("--debug", "run", str(tmp_path / "missing.yaml"))
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_generate_without_any_backbone_explains_what_to_install(tmp_path: Path, f2g: Callable[..., Any]) -> None:
    done = f2g("generate", "x", env={"F2G_LOAD_PLUGINS": ""})
    assert done.returncode == 2 and "backbone: none configured" in done.stderr


def test_python_api_is_importable_in_one_line() -> None:
    code = textwrap.dedent("from f2g_core import generate, Pipeline, load_config; print(generate.__name__)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "generate"


def test_keys_are_stored_listed_and_deleted_without_being_printed(tmp_path: Path, f2g: Callable[..., Any]) -> None:
    env = {"F2G_KEYS_FILE": str(tmp_path / "keys.json"), "F2G_LOAD_PLUGINS": ""}
    secret = "sk-cli-test-0123456789SECRET"
    stored = f2g("keys", "set", "openai", input=secret + "\n", env=env)
    assert stored.returncode == 0 and secret not in stored.stdout + stored.stderr
    assert (tmp_path / "keys.json").stat().st_mode & 0o777 == 0o600
    listed = f2g("keys", "list", env=env)
    assert listed.stdout.strip() == "openai" and secret not in listed.stdout
    assert f2g("keys", "delete", "openai", env=env).returncode == 0
    missing = f2g("keys", "delete", "openai", env=env)
    assert missing.returncode == 2 and "no stored key" in missing.stderr
