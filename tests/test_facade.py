"""The flat public facade: every name ``f2g_core`` exports resolves, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import f2g_core
from f2g_core.contracts import HEAVY_MODULES


def test_every_exported_name_resolves_to_the_object_of_its_module() -> None:
    import importlib

    for name in f2g_core.__all__:
        value = getattr(f2g_core, name)
        if name != "__version__":
            assert value is getattr(importlib.import_module(f2g_core._LAZY[name]), name), name
    assert set(f2g_core.__all__) == {*f2g_core._LAZY, "__version__"}


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        f2g_core.NoSuchThing  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("f2g_core.NoSuchThing resolved")


def test_importing_the_facade_imports_nothing_heavy() -> None:
    """``import f2g_core`` (which every plugin's entry point does) loads no numerics: names load on first use."""
    heavy = (*HEAVY_MODULES, "numpy", "pydantic", "PIL")
    code = f"import sys, f2g_core; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_a_plugin_importing_sampler_names_from_the_facade_stays_free_of_torch() -> None:
    code = (
        "import sys; from f2g_core import Sampler, Step, Population, Reward, Combiner, Backbone, hookimpl; "
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
