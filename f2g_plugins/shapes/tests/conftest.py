"""Fixtures of the shapes plugin's tests: the isolated registry with this plugin loaded."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from typing import Any

import pytest


@pytest.fixture(scope="session")
def shapes_plugins() -> Any:
    """f2g's isolated plugin set (built-in combiners) plus f2g-plugin-shapes."""
    from f2g_core.testing import isolated_plugins

    import f2g_plugin_shapes.plugin as plugin

    plugins = isolated_plugins([("f2g-plugin-shapes", plugin)])
    return plugins
