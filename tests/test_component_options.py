"""Every component registered in this environment — built-ins and every installed plugin — validates its options
strictly and describes every field (`f2g list --options`, docs and error messages show these descriptions)."""

from __future__ import annotations

from f2g_core.contracts import undescribed_fields
from f2g_core.plugins import load_plugins
from f2g_core.registry import KINDS


def registered() -> list:
    registry = load_plugins().registry
    return [entry for kind in KINDS for entry in registry.components(kind)]


def test_every_option_of_every_registered_component_has_a_description() -> None:
    missing = {
        f"{entry.kind} {entry.name!r} ({entry.plugin})": fields
        for entry in registered()
        if (fields := undescribed_fields(entry.cls.Options))
    }
    assert not missing, f"Options fields without a description: {missing}"


def test_every_registered_component_forbids_unknown_options() -> None:
    lenient = [entry.name for entry in registered() if entry.cls.Options.model_config.get("extra") != "forbid"]
    assert not lenient, f"Options without extra='forbid': {lenient}"
