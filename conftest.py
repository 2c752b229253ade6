"""Settings for every test in the repository (core and plugins): never touch a model hub or the network; under
pytest-xdist, the tests of one file run in one worker."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


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
