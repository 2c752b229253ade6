"""``f2g plugin new``: scaffold a plugin package that installs, registers and tests out of the box.

The templates (``templates/common`` plus ``templates/<kind>``, package data) are plain ``.tmpl`` files, so no tool
reads them as code or config, with ``{{key}}`` placeholders; :func:`new_plugin` fills them for one name and kind.
Everything a plugin author would otherwise copy from the docs is there: the entry point, an ``f2g-core`` bound of
the running minor series, a registered class with its ``Options``, tests on the shipped fixtures (async mode
configured for async rewards), a README, a CHANGELOG and a CI workflow with strict plugin loading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from f2g_core import __version__
from f2g_core.errors import ConfigError

NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PREFIX = "f2g-plugin-"


@dataclass(frozen=True)
class Kind:
    """What differs between the kinds of plugin a scaffold can make."""

    summary: str
    suffix: str
    plural: str
    dependencies: tuple[str, ...] = ("numpy>=1.24", "pydantic>=2.7")
    test_dependencies: tuple[str, ...] = ()
    pytest_options: str = ""
    usage: str = ""


KINDS: dict[str, Kind] = {
    "reward": Kind(
        "prefers sharp key frames",
        "Reward",
        "rewards",
        usage="```yaml\nrewards:\n  - {type: {{id}}, weight: 1.0, options: {scale: 1.0}}\n```",
    ),
    "async-reward": Kind(
        "scores each candidate with its own (remote) call",
        "Reward",
        "rewards",
        test_dependencies=("pytest-asyncio>=0.23",),
        pytest_options='asyncio_mode = "auto"\nasyncio_default_fixture_loop_scope = "function"',
        usage="```yaml\nrewards:\n  - {type: {{id}}, options: {max_concurrency: 8}}\n```",
    ),
    "combiner": Kind(
        "a weighted mean of per-reward ranks",
        "Combiner",
        "combiners",
        usage="```yaml\ncombiner: {type: {{id}}, options: {power: 1.0}}\n```",
    ),
    "backbone": Kind(
        "a toy text-to-video model with an exact denoiser",
        "Backbone",
        "backbones",
        dependencies=("numpy>=1.24", "pydantic>=2.7", "torch>=2.3"),
        usage="```yaml\nbackbone: {type: {{id}}, options: {frames: 8}}\n```",
    ),
    "sampler": Kind(
        "Free²Guide with a margin over the plain transition",
        "Sampler",
        "samplers",
        usage="```yaml\nguidance: {method: {{id}}, options: {num_candidates: 4, margin: 0.1}}\n```",
    ),
}


def core_requirement(version: str = __version__) -> str:
    """``f2g-core>=0.M,<0.(M+1)``: the minor series of the running f2g-core (the compatibility policy)."""
    major, minor = (int(part) for part in version.split(".")[:2])
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f"f2g-core>={major}.{minor},<{upper}"


def _fill(text: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        return values[match.group(1)]  # a KeyError here is a template bug, caught by the tests

    return re.sub(r"\{\{(\w+)\}\}", value, text)


def _quoted(items: tuple[str, ...]) -> str:
    return "".join(f', "{item}"' for item in items)


def new_plugin(name: str, kind: str, parent: Path | str = ".") -> Path:
    """Write a plugin package for component ``name`` of ``kind`` into ``parent/name``; return its folder.

    ``name`` is the component id (``my-sharpness``); a leading ``f2g-plugin-`` is accepted and dropped. The
    distribution is ``f2g-plugin-<id>``, the module ``f2g_plugin_<id with underscores>``. Refuses an invalid name,
    an unknown kind and an existing target.
    """
    if kind not in KINDS:
        raise ConfigError(f"--kind {kind!r}: choose one of {', '.join(KINDS)}")
    ident = name.removeprefix(PREFIX)
    if not NAME.match(ident):
        raise ConfigError(
            f"plugin name {name!r}: use lower-case letters and digits in words joined by single hyphens, "
            "starting with a letter, e.g. my-sharpness"
        )
    target = Path(parent) / name
    if target.exists():
        raise ConfigError(f"{target}: already exists; choose another name or remove it first")
    spec = KINDS[kind]
    module = "f2g_plugin_" + ident.replace("-", "_")
    values = {
        "id": ident,
        "dist": PREFIX + ident,
        "module": module,
        "class": "".join(part.capitalize() for part in ident.split("-")) + spec.suffix,
        "kind": kind,
        "kind_plural": spec.plural,
        "summary": spec.summary,
        "core_requirement": core_requirement(),
        "dependencies": _quoted(spec.dependencies),
        "test_dependencies": _quoted(spec.test_dependencies),
        "pytest_options": spec.pytest_options,
    }
    values["usage"] = _fill(spec.usage, values)
    templates = resources.files(__name__) / "templates"
    layout = {  # file in the package -> its template under templates/ (".tmpl" added)
        "pyproject.toml": "common/pyproject.toml",
        "README.md": "common/README.md",
        "CHANGELOG.md": "common/CHANGELOG.md",
        ".gitignore": "common/gitignore",
        ".github/workflows/test.yml": "common/github/workflows/test.yml",
        "tests/conftest.py": "common/tests/conftest.py",
        f"{module}/__init__.py": "common/init.py",
        f"{module}/plugin.py": f"{kind}/plugin.py",
        f"tests/test_{module.removeprefix('f2g_plugin_')}.py": f"{kind}/test_plugin.py",
    }
    templates = resources.files(__name__).joinpath("templates")
    rendered = {
        path: _fill(templates.joinpath(*f"{source}.tmpl".split("/")).read_text(encoding="utf-8"), values)
        for path, source in layout.items()
    }
    for path, text in rendered.items():
        destination = target / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    return target
