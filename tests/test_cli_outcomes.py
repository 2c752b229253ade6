"""Outcomes of the `f2g` command as users meet them: usage errors, Ctrl-C, unexpected errors (docs/cli.md).

What only a real process shows (Ctrl-C, an interrupt's exit code, an install without click) runs the real
command; the messages and exit codes of the other outcomes are checked in this process (``f2g_in_process``)."""

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from f2g_core.testing import install_fake_distribution

WAIT = 300.0
"""Seconds a test waits for the event it needs (scoring started, the command ended): generous, as a busy 2-core
machine once took over 90 s to start a run and 120 s to end one; a healthy one takes a few."""

F2G = [sys.executable, "-c", "from f2g_core.cli import main; main()"]
F2G_CALL = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def f2g(f2g_in_process: F2G_CALL) -> F2G_CALL:
    return f2g_in_process


PLUGIN = '''
import math, os, time
from pathlib import Path
from f2g_core.gaussian_mixture import register_backbones  # noqa: F401
from f2g_core.hookspecs import hookimpl
from f2g_core.interfaces import Reward


class Slow(Reward):
    """Announces that scoring started (a file), then sleeps: the test interrupts it there."""

    name = "slow"

    def load(self):
        if os.environ.get("F2G_TEST_LOADED"):
            Path(os.environ["F2G_TEST_LOADED"]).touch()

    def score(self, batch):
        Path(os.environ["F2G_TEST_STARTED"]).touch()
        time.sleep(60)
        return [0.0] * len(batch)


class Interrupting(Reward):
    """Raises KeyboardInterrupt from inside scoring (what a reward sees when its library is interrupted)."""

    name = "interrupting"

    def score(self, batch):
        raise KeyboardInterrupt


@hookimpl
def register_rewards(register):
    register(Slow)
    register(Interrupting)
'''


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A folder on PYTHONPATH with a test plugin distribution (entry point `outcomes`)."""
    (tmp_path / "f2g_outcomes_plugin.py").write_text(PLUGIN)
    install_fake_distribution(tmp_path, "outcomes-test", "0.1", "outcomes = f2g_outcomes_plugin")
    return tmp_path


def _env(site: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(site),
        "F2G_LOAD_PLUGINS": "outcomes",
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
        **extra,
    }


def _config(site: Path, reward: str) -> Path:
    data = {
        "prompt": "the upper-right mode",
        "backbone": {"type": "gaussian-mixture", "options": {"frame_size": 8}},
        "rewards": [{"type": reward}],
        "sampler": {"num_steps": 6},
        "guidance": {"method": "free2guide", "options": {"num_candidates": 2, "num_guided_steps": 2}},
        "output": {"dir": str(site / "runs"), "formats": ["gif"]},
    }
    path = site / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def no_click(tmp_path: Path) -> Path:
    """A PYTHONPATH entry that makes `import click` fail, as in the main-job install (typer vendors click)."""
    package = tmp_path / "noclick" / "click"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'click'\", name='click')\n")
    return package.parent


def test_a_usage_error_without_click_exits_2_with_usage_and_no_traceback(no_click: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(no_click), "F2G_LOAD_PLUGINS": "", "COLUMNS": "200"}
    done = subprocess.run([*F2G, "lst"], capture_output=True, text=True, env=env, timeout=WAIT)
    assert done.returncode == 2, done.stderr
    assert "Usage:" in done.stderr and "Traceback" not in done.stderr and "unexpected" not in done.stderr


@pytest.mark.parametrize("args", [["lst"], ["run"], ["generate"], ["list", "reward"], ["run", "x.yaml", "--chek"]])
def test_usage_errors_exit_2_with_usage_and_no_traceback(f2g: F2G_CALL, args: list[str]) -> None:
    done = f2g(*args, env={"F2G_LOAD_PLUGINS": ""})
    assert done.returncode == 2, done.stderr
    assert "Usage:" in done.stderr and "Traceback" not in done.stderr and "unexpected" not in done.stderr


def test_sigint_mid_run_prints_interrupted_and_exits_130(site: Path) -> None:
    started = site / "started"
    process = subprocess.Popen(
        [*F2G, "run", str(_config(site, "slow"))],
        env=_env(site, F2G_TEST_STARTED=str(started)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + WAIT
    while not started.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert started.exists(), process.communicate()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=WAIT)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not (site / "runs").exists() or not any((site / "runs").iterdir())


def test_keyboard_interrupt_raised_inside_a_reward_exits_130(site: Path) -> None:
    done = subprocess.run(
        [*F2G, "run", str(_config(site, "interrupting"))], capture_output=True, text=True, env=_env(site), timeout=WAIT
    )
    assert done.returncode == 130, done.stderr
    assert "interrupted" in done.stderr and "Traceback" not in done.stderr
    assert not (site / "runs").exists() or not any((site / "runs").iterdir())


def test_unexpected_error_is_one_line_exit_1_and_debug_shows_the_traceback(site: Path, f2g: F2G_CALL) -> None:
    bad = site / "f2g_outcomes_plugin.py"
    bad.write_text(bad.read_text() + "\nSlow.load = lambda self: 1 / 0\n")
    config = str(_config(site, "slow"))
    done = f2g("run", config, env=_env(site))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [
        line for line in done.stderr.splitlines() if line.strip()
    ]
    debug = f2g("--debug", "run", config, env=_env(site))
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr


def test_out_pointing_at_a_file_exits_2_before_sampling(site: Path, f2g: F2G_CALL) -> None:
    (site / "taken").write_text("a file")
    started = site / "started"
    done = f2g(
        "run", str(_config(site, "slow")), "--out", str(site / "taken"), env=_env(site, F2G_TEST_STARTED=str(started))
    )
    assert done.returncode == 2 and "--out" in done.stderr and "is a file" in done.stderr
    assert not started.exists()  # the reward never ran: nothing was computed and lost


@pytest.mark.parametrize(
    ("args", "blamed"),
    [
        (["--seed", "-1"], "command-line flags: seed: Input should be greater than or equal to 0"),
        (  # checked by the method's own Options model, and still blamed on the flag
            ["--set", "guidance.options.num_candidates=0"],
            "--set guidance.options.num_candidates=0: guidance.options.num_candidates:",
        ),
        (["--set", "rewards.0.weight=.nan"], "--set rewards.0.weight=.nan: rewards[0].weight:"),
    ],
)
def test_bad_flags_fail_before_loading_and_are_blamed_on_the_flag(
    site: Path, args: list[str], blamed: str, f2g: F2G_CALL
) -> None:
    loaded = site / "loaded"
    done = f2g("run", str(_config(site, "slow")), *args, env=_env(site, F2G_TEST_LOADED=str(loaded)))
    assert done.returncode == 2 and f"error: {blamed}" in done.stderr, done.stderr
    assert "run.yaml" not in done.stderr and not loaded.exists()


def test_generate_flags_are_not_blamed_on_defaults(site: Path, f2g: F2G_CALL) -> None:
    done = f2g("generate", "x", "-c", str(_config(site, "slow")), "-n", "0", "--no-save", env=_env(site))
    # a method's options are validated by its own Options model when the sampler is built, before any load
    assert done.returncode == 2, done.stderr
    assert "error: command-line flags: guidance.options.num_candidates:" in done.stderr, done.stderr


def test_a_component_option_error_names_the_file_and_suggests_the_option(
    site: Path, tmp_path: Path, f2g: F2G_CALL
) -> None:
    data = yaml.safe_load(_config(site, "slow").read_text())
    config = tmp_path / "smc.yaml"
    config.write_text(yaml.safe_dump({**data, "guidance": {"method": "smc", "options": {"lamda": 2}}}))
    done = f2g("run", str(config), "--check", env=_env(site))
    expected = f"error: {config}: guidance.options.lamda: unknown key (not an option of this component; did you mean"
    assert done.returncode == 2 and expected in done.stderr and "'lam'?" in done.stderr, done.stderr


def test_run_on_a_directory_says_it_is_a_directory(site: Path, f2g: F2G_CALL) -> None:
    done = f2g("run", str(site), env=_env(site))
    assert done.returncode == 2 and "is a directory, not a config file" in done.stderr


@pytest.mark.skipif(importlib.util.find_spec("f2g_plugin_shapes") is None, reason="needs f2g-plugin-shapes")
def test_a_huge_prompt_gives_a_short_error(f2g: F2G_CALL) -> None:
    done = f2g("generate", "a red circle " * 800, "--no-save", env={"F2G_LOAD_PLUGINS": None})
    assert done.returncode == 2 and len(done.stderr) < 2000 and "characters)" in done.stderr, done.stderr[:500]
