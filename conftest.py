"""Settings for every test in the repository (core and plugins): never touch a model hub or the network; under
pytest-xdist, the tests of one file run in one worker and the workers share the CPU cores rather than each taking
them all."""

import os
import signal

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    # Each worker's torch (OpenMP, MKL) would start a thread per core: two workers on two cores ran four busy threads
    # that wait for each other at every parallel op (a run of the `numerics` tests took 11 minutes on two workers,
    # 2.7 in one process). Set before any test imports torch; the tests' subprocesses inherit it.
    workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    # A shell without job control (a script's `cmd &`, nohup) starts its background jobs with Ctrl-C ignored, and
    # their children inherit that: the Ctrl-C tests check what a user at a terminal gets, so give them a terminal's
    # handler (a handled signal is reset to the default in the tests' subprocesses, an ignored one is not).
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_configure(config: pytest.Config) -> None:
    """Register ``xdist_group`` where pytest-xdist is not installed (--strict-markers refuses unknown markers)."""
    config.addinivalue_line("markers", "xdist_group(name): under pytest-xdist, run with the other tests of the group")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group every test by its file unless it names a group itself (``xdist_group``).

    scripts/test.sh runs ``pytest -n 2 --dist loadgroup``: a group runs in one worker, in order, so a file's tests
    share their module and class fixtures (tiny models) as in a plain run and are not loaded once per worker; tests
    that must never overlap across files (the Ray tests: one Ray on the machine at a time) share a named group.
    Without xdist the markers do nothing.
    """
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
