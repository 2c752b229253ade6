"""Shared fixtures of the core tests.

The core's tests run twice in scripts/test.sh: where no plugin is installed, and with every plugin installed. A test
marked ``plugin_independent`` runs in the first only: it never loads the installed plugins (it builds its own
registry or tests code that takes none), so the second run could only repeat it. The mark is checked: such a test
fails here if it loads the installed plugins (entry points) all the same. A test that runs ``f2g`` in a subprocess
loads them there: never mark it.
"""

import contextlib
import gc
import io
import os
import subprocess
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

import f2g_core.cli
import f2g_core.plugins
from f2g_core.gaussian_mixture import GaussianMixtureBackbone
from f2g_core.hookspecs import hookimpl
from f2g_core.plugins import Plugins, default_plugins
from f2g_core.registry import Registry


class CountingBackbone(GaussianMixtureBackbone):
    """Counts samples through the denoiser and frames through the decoder."""

    name = "counting-mixture"

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.denoised = 0
        self.batches: list[int] = []
        self.decoded = 0

    def denoise(self, latents: Any, level: Any, cond: Any) -> Any:
        self.denoised += latents.shape[0]
        self.batches.append(latents.shape[0])
        return super().denoise(latents, level, cond)

    def decode(self, x0: Any, frame_indices: Any) -> np.ndarray:
        frames = super().decode(x0, frame_indices)
        self.decoded += frames.shape[0] * frames.shape[1]
        return frames


@pytest.fixture
def counting(register_plugin: Callable[..., Plugins]) -> Registry:
    @hookimpl
    def register_backbones(register):  # type: ignore[no-untyped-def]
        register(CountingBackbone)

    return register_plugin(types.SimpleNamespace(register_backbones=register_backbones)).registry


@pytest.fixture(autouse=True)
def _plugin_independent_tests_load_no_plugin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Fail a ``plugin_independent`` test that loads the installed plugins: its mark would hide it from the run
    where every plugin is installed."""
    if request.node.get_closest_marker("plugin_independent") is None:
        yield
        return

    def refuse(**kwargs: Any) -> Any:
        raise AssertionError(
            f"{request.node.nodeid} is marked plugin_independent but loads the installed plugins ({kwargs}): "
            "remove the mark, so that it runs with every plugin installed too"
        )

    default_plugins.cache_clear()  # plugins loaded by an earlier test would hide the load
    monkeypatch.setattr(f2g_core.plugins, "entry_points", refuse)
    yield
    default_plugins.cache_clear()


@pytest.fixture
def f2g_in_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., "subprocess.CompletedProcess[str]"]]:
    """``f2g_in_process(*args, env={...}, input=None)`` runs ``f2g`` as its console script does (``cli.main``), in
    this process, and returns what a subprocess would: the exit code, stdout and stderr.

    Starting ``f2g`` as a subprocess costs 2-3 s of Python start-up and imports on a 2-core machine, which made the
    CLI tests the slowest part of the suite; a test of a message or an exit code needs none of it. ``env`` is laid
    over this process's environment for the call (a value of None removes the variable) and ``PYTHONPATH`` entries
    go on ``sys.path`` (fake plugin distributions, ``install_fake_distribution``); modules imported from them are
    forgotten afterwards, and the plugin cache, ``--debug`` and the consoles start fresh each call, as in a new
    process. Tests of what only a real process shows (Ctrl-C, signals, ``sys.exit`` from a worker thread, an
    install without click) keep starting one.
    """
    added: list[str] = []

    def run(*args: str, env: dict[str, str | None] | None = None, input: str | None = None) -> Any:
        with monkeypatch.context() as patch, warnings.catch_warnings():
            warnings.simplefilter("default")  # a new process's filters, printed to its stderr (not pytest's record)
            for key, value in {"HF_HUB_OFFLINE": "1", "COLUMNS": "200", **(env or {})}.items():
                if key == "PYTHONPATH":
                    for path in reversed((value or "").split(os.pathsep)):
                        if path:
                            patch.syspath_prepend(path)
                            added.extend({path, str(Path(path).resolve())})
                elif value is None:
                    patch.delenv(key, raising=False)
                else:
                    patch.setenv(key, value)
            patch.setattr(sys, "stdin", io.StringIO(input or ""))
            patch.setattr(warnings, "showwarning", _print_warning)
            patch.setitem(f2g_core.cli._state, "debug", os.environ.get("F2G_DEBUG", "") not in ("", "0"))
            patch.setattr(f2g_core.cli, "console", Console(soft_wrap=True))  # as created at import: COLUMNS
            patch.setattr(f2g_core.cli, "errors", Console(stderr=True))
            default_plugins.cache_clear()
            # earlier tests' garbage (an unclosed event loop's ResourceWarning) is collected now, not during the
            # call, where its warning would land in this call's stderr as if this run had printed it
            gc.collect()
            stdout, stderr = io.StringIO(), io.StringIO()
            code: int | str | None = 0
            try:
                with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                    f2g_core.cli.main(list(args))
            except SystemExit as exit:
                code = exit.code
                if isinstance(code, str):
                    stderr.write(code + "\n")  # what the interpreter does with such an exit
            finally:
                default_plugins.cache_clear()
                _forget_modules_under(added)
        returncode = code if isinstance(code, int) else (0 if code is None else 1)
        return subprocess.CompletedProcess(["f2g", *args], returncode, stdout.getvalue(), stderr.getvalue())

    yield run
    _forget_modules_under(added)


def _print_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


@pytest.fixture
def forget_modules_under() -> Callable[[list[str]], None]:
    """``forget_modules_under([folder, ...])`` drops the modules imported from those folders (fake plugins whose
    module names repeat from test to test with other contents)."""
    return _forget_modules_under


def _forget_modules_under(paths: list[str]) -> None:
    """Drop modules imported from these folders, so the next call imports its own (a test's fake plugins)."""
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and file.startswith(tuple(path.rstrip(os.sep) + os.sep for path in paths)):
            del sys.modules[name]
