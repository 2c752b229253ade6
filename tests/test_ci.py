"""CI runs what the README says it runs, and that command checks what users install (issue 11, item 7)."""

import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.plugin_independent  # never loads the installed plugins (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[1]


def _readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("Run every check CI runs") :]
    return re.search(r"```bash\n(.+?)\n```", section, re.DOTALL).group(1).strip()  # type: ignore[union-attr]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    command = _readme_test_command()
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[-1] == command and command in (ROOT / "CONTRIBUTING.md").read_text()


def test_the_test_command_lints_types_isolates_the_core_and_smoke_tests_the_main_job() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text()
    for needed in (
        "ruff check .",
        "ruff format --check .",
        "mypy",
        "setup.sh --core",
        "F2G_STRICT_PLUGINS=1",
        "smoke_main_job.py",
    ):
        assert needed in script, needed
    smoke = (ROOT / "scripts" / "smoke_main_job.py").read_text()
    assert '"bash", "scripts/setup.sh"]' in smoke  # the README's main-job command, verbatim
    assert "bash scripts/setup.sh && .venv/bin/f2g generate" in (ROOT / "README.md").read_text()


def test_the_test_command_reruns_the_numerical_tests_on_a_second_kernel_path() -> None:
    """Issue 19: a tolerance that holds on one CPU only must fail in CI, not on a user's machine."""
    script = (ROOT / "scripts" / "test.sh").read_text()
    rerun = next(line for line in script.splitlines() if "ATEN_CPU_CAPABILITY=default" in line and "\\" in line)
    assert "ONEDNN_MAX_CPU_ISA=" in rerun and "MKL_ENABLE_INSTRUCTIONS=" in rerun
    following = script[script.index(rerun) :].splitlines()[1]
    assert "-m numerics" in following and "f2g_plugins" in following and "tests" in following


def test_each_core_test_runs_once_with_plugins_only_where_plugins_can_change_it() -> None:
    """The core's tests run alone in full; the every-plugin run leaves out only the ``plugin_independent`` ones
    (tests/conftest.py checks the mark), and every pytest run is spread over pytest-xdist workers a clean clone
    installs (the test extra)."""
    script = (ROOT / "scripts" / "test.sh").read_text()
    runs = [line for line in script.splitlines() if "-m pytest" in line]
    alone = next(line for line in runs if "venvs/core/bin/python" in line)
    with_plugins = next(line for line in runs if line.startswith(".venv/bin/python") and line.endswith('tests "$@"'))
    assert "plugin_independent" not in alone and '-m "not heavy and not plugin_independent"' in with_plugins
    serial = [line for line in runs if '"${parallel[@]}"' not in line]
    assert serial == [line for line in runs if '-m "ray and not heavy"' in line] and "--dist loadgroup" in script
    pyproject = (ROOT / "pyproject.toml").read_text()
    test_extra = next(line for line in pyproject.splitlines() if line.startswith("test = ["))
    assert "pytest-xdist" in test_extra and "plugin_independent:" in pyproject


def test_setup_runs_pip_again_only_when_the_venv_is_out_of_date(tmp_path: Path) -> None:
    """scripts/test.sh runs setup.sh on every run: with nothing changed it must not rebuild every editable package
    (minutes of pip), but must when a package it was given is gone. A stand-in venv python and uv (already there,
    so pip does not install it) log each call."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log, missing = tmp_path / "calls.log", tmp_path / "missing"
    fake = venv / "bin" / "python"
    fake.write_text(
        f'#!/bin/sh\necho "$*" >>{log}\n'
        f'case "$1 $2" in "-m pip") exit 0;; "-c "*) [ ! -e {missing} ];; esac\n'  # -c: is every package installed?
    )
    fake.chmod(0o755)
    (venv / "bin" / "uv").write_text(f'#!/bin/sh\necho "uv $*" >>{log}\n')
    (venv / "bin" / "uv").chmod(0o755)

    def installs() -> int:
        log.write_text("")
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "setup.sh"), "--core"],
            env={**os.environ, "F2G_VENV": str(venv)}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return log.read_text().count("pip install")

    assert installs() == 2  # torch, then the packages
    assert log.read_text().count("uv pip install") == 2 and "torch==2.13.0" in log.read_text()
    assert installs() == 0  # the same files, every package there: nothing to do
    missing.touch()
    assert installs() == 2  # a package is gone: install again


def test_the_ray_tests_run_once_in_their_own_serial_run() -> None:
    """Ray tests kill processes, which an xdist worker does not survive (xdist then waited forever for the lost
    worker's tests): every run that reaches them through xdist leaves them out, one serial run has them."""
    script = (ROOT / "scripts" / "test.sh").read_text()
    runs = [line for line in script.splitlines() if "-m pytest" in line]
    ray_runs = [line for line in runs if '-m "ray and not heavy"' in line]
    assert len(ray_runs) == 1 and '"${parallel[@]}"' not in ray_runs[0] and "f2g_plugins/eval" in ray_runs[0]
    for line in runs:
        if "f2g_plugins" in line and line not in ray_runs and "-m numerics" not in line:
            assert "not ray" in line, line
    marked = [p.name for p in (ROOT / "f2g_plugins" / "eval" / "tests").glob("test_ray*.py")]
    assert marked and all(
        "pytest.mark.ray" in (ROOT / "f2g_plugins" / "eval" / "tests" / n).read_text() for n in marked
    )


HANGING = """
import asyncio
import os
import time


def test_the_workers_share_the_cores():  # the root conftest.py: one torch thread per worker on two cores
    assert os.environ["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))


def test_hangs():
    time.sleep(600)


def test_takes_its_worker_down():  # the same file: the same worker, after the hang
    os._exit(1)
"""


def test_a_hang_or_a_lost_worker_fails_the_run_in_seconds_instead_of_hanging_it(tmp_path: Path) -> None:
    """A crashed pytest-xdist worker once left ``--dist loadgroup`` waiting forever for its tests. pytest-timeout (the
    test extra, configured in pyproject.toml) fails a test that outlives ``timeout``, and scripts/test.sh's xdist
    options end the run when a worker dies: a 600-second test under a 3-second timeout, then a test that kills its
    worker, run as test.sh runs a stage, fail in seconds. The same run checks that the workers share the cores."""
    script = (ROOT / "scripts" / "test.sh").read_text()
    line = next(line for line in script.splitlines() if line.startswith("parallel=("))
    options = [word if "F2G_TEST_WORKERS" not in word else "2" for word in shlex.split(line[len("parallel=(") : -1])]
    (tmp_path / "test_hanging.py").write_text(HANGING)
    shutil.copy(ROOT / "conftest.py", tmp_path)
    command = [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path)]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k != "OMP_NUM_THREADS"}
    started = time.monotonic()
    done = subprocess.run(
        [*command, "-p", "no:cacheprovider", "-o", "timeout=3", *options, "test_hanging.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=clean,
    )  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 1 and took < 200, (took, done.stdout)  # the hang alone lasts 600 s
    assert "FAILED test_hanging.py::test_hangs" in done.stdout, done.stdout
    assert "Failed: Timeout (>3.0s) from pytest-timeout" in done.stdout, done.stdout
    assert "crashed while running 'test_hanging.py::test_takes_its_worker_down'" in done.stdout, done.stdout
    assert "2 failed, 1 passed" in done.stdout, done.stdout
    assert "pytest-timeout" in next(
        line for line in (ROOT / "pyproject.toml").read_text().splitlines() if line.startswith("test = [")
    )


CTRL_C = """
import signal
import subprocess
import sys


def test_ctrl_c_reaches_the_tests_and_their_subprocesses():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    check = "import signal, sys; sys.exit(signal.getsignal(signal.SIGINT) is not signal.default_int_handler)"
    assert subprocess.run([sys.executable, "-c", check]).returncode == 0
"""


def test_the_ctrl_c_tests_get_a_terminals_ctrl_c_when_started_with_it_ignored(tmp_path: Path) -> None:
    """A shell without job control (`bash scripts/test.sh &` in a script, nohup) starts the suite with SIGINT
    ignored, which every subprocess inherits: the Ctrl-C tests then saw exit 0 instead of 130. The root conftest.py
    gives the tests a terminal's handler again."""
    (tmp_path / "test_ctrl_c.py").write_text(CTRL_C)
    shutil.copy(ROOT / "conftest.py", tmp_path)
    command = [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path)]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [*command, "-p", "no:cacheprovider", "-n", "0", "test_ctrl_c.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=clean,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout


def test_an_earlier_tests_garbage_does_not_warn_into_an_in_process_f2g_calls_stderr(
    f2g_in_process: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """An unclosed event loop left in a reference cycle by some earlier test is collected whenever the collector
    runs; its ResourceWarning must not land in the stderr of the in-process ``f2g`` call that happens to be running
    then (a new process, which the fixture stands for, would not have that garbage)."""
    loop = asyncio.new_event_loop()
    loop.cycle = loop  # type: ignore[attr-defined]  # only the cycle collector frees it
    del loop
    done = f2g_in_process("--version")
    assert done.returncode == 0 and "unclosed event loop" not in done.stderr, done.stderr
