"""``NAME:key=value,key=value`` references to plugin-provided suites and metrics, options parsed as YAML values."""

from __future__ import annotations

from typing import Any

import yaml
from f2g_core.errors import ConfigError


def parse_ref(text: str, what: str) -> tuple[str, dict[str, Any]]:
    """Split ``name:key=value,...`` into the name and its options (``pairs=40`` → ``{"pairs": 40}``)."""
    name, _, rest = text.partition(":")
    options: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, raw = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{what} {text!r}: options are KEY=VALUE separated by commas, e.g. {name}:pairs=40")
        try:
            options[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            options[key.strip()] = raw
    if not name.strip():
        raise ConfigError(f"{what} {text!r}: the name is empty")
    return name.strip(), options
