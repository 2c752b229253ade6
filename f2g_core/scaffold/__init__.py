"""``f2g plugin new``: scaffold a plugin package that installs, registers and tests out of the box.

The templates (``templates/common`` plus ``templates/<kind>``, package data) are plain ``.tmpl`` files, so no tool
reads them as code or config, with ``{{key}}`` placeholders; :func:`new_plugin` fills them for one name and kind.
Everything a plugin author would otherwise copy from the docs is there: the entry point, an ``f2g-core`` bound of
the running minor series, a registered class with its ``Options``, tests on the shipped fixtures (async mode
configured for async rewards), a README, a CHANGELOG and a CI workflow with strict plugin loading.

Third-party packages are named ``f2g-contrib-<id>`` (module ``f2g_contrib_<id>``): a convention for finding them,
which the plugin loader does not treat specially (no package name wins a clash, see docs/plugins.md). A name the
f2g project's own plugins use, or that an installed distribution, entry point or module already has, is refused.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from f2g_core import __version__
from f2g_core.errors import ConfigError

NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MAX_NAME = 64
PREFIX = "f2g-contrib-"
"""The third-party naming convention the scaffold follows (a convention only: the loader ignores names)."""
PROJECT_PLUGINS = (
    "anthropic",
    "checklist",
    "clip",
    "diffusers",
    "eval",
    "imagereward",
    "lvlm",
    "openai",
    "paper-backbones",
    "shapes",
    "torch-utils",
    "transformers-vlm",
    "viclip",
    "videoreward",
    "videoscore",
)
"""The f2g project's own plugin and shared packages (``f2g_plugins/*``, distributions ``f2g-plugin-<name>`` or
``f2g-<name>``): a scaffold must not take their names (tests/test_scaffold.py keeps this list in step)."""


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

    ``name`` is the component id (``my-sharpness``); a leading ``f2g-contrib-`` is accepted and dropped. The
    distribution is ``f2g-contrib-<id>``, the module ``f2g_contrib_<id with underscores>``. Refuses (ConfigError)
    an invalid or too long name, a name the project's plugins or an installed package already use, an unknown
    kind, an existing target and a folder that cannot be written; a failed write leaves nothing behind.
    """
    if kind not in KINDS:
        raise ConfigError(f"--kind {kind!r}: choose one of {', '.join(KINDS)}")
    ident = name.removeprefix(PREFIX)
    if len(name) > MAX_NAME:
        raise ConfigError(f"plugin name {name!r}: at most {MAX_NAME} characters, not {len(name)}")
    if not NAME.match(ident):
        raise ConfigError(
            f"plugin name {name!r}: use lower-case letters and digits in words joined by single hyphens, "
            "starting with a letter, e.g. my-sharpness"
        )
    module = PREFIX.replace("-", "_") + ident.replace("-", "_")
    _check_free(name, ident, PREFIX + ident, module)
    target = Path(parent) / name
    try:
        taken = target.exists() or target.is_symlink()
    except OSError as error:
        raise ConfigError(f"--dir {str(parent)!r}: cannot use {str(target)!r} ({error.strerror or error})") from None
    if taken:
        raise ConfigError(f"{target}: already exists; choose another name or remove it first")
    spec = KINDS[kind]
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
    layout = {  # file in the package -> its template under templates/ (".tmpl" added)
        "pyproject.toml": "common/pyproject.toml",
        "README.md": "common/README.md",
        "CHANGELOG.md": "common/CHANGELOG.md",
        ".gitignore": "common/gitignore",
        ".github/workflows/test.yml": "common/github/workflows/test.yml",
        "tests/conftest.py": "common/tests/conftest.py",
        f"{module}/__init__.py": "common/init.py",
        f"{module}/plugin.py": f"{kind}/plugin.py",
        f"tests/test_{ident.replace('-', '_')}.py": f"{kind}/test_plugin.py",
    }
    templates = resources.files(__name__).joinpath("templates")
    rendered = {
        path: _fill(templates.joinpath(*f"{source}.tmpl".split("/")).read_text(encoding="utf-8"), values)
        for path, source in layout.items()
    }
    try:
        for path, text in rendered.items():
            destination = target / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    except OSError as error:
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        where = error.filename or target
        raise ConfigError(
            f"--dir {str(parent)!r}: cannot write the plugin into {str(where)!r} ({error.strerror or error}); "
            "choose a writable folder"
        ) from None
    return target


def _check_free(name: str, ident: str, distribution: str, module: str) -> None:
    """Refuse a name the project's own plugins, an installed distribution, entry point or module already use:
    a scaffold under a taken name would be mistaken for (or clash with) the real package."""
    if ident in PROJECT_PLUGINS:
        raise ConfigError(
            f"plugin name {name!r}: {ident!r} is the name of one of the f2g project's own plugins; choose another "
            f"name (e.g. my-{ident})"
        )
    installed = {
        normal: dist.metadata["Name"]
        for dist in metadata.distributions()
        if dist.metadata["Name"] and (normal := dist.metadata["Name"].lower().replace("_", "-").replace(".", "-"))
    }
    for candidate in (distribution, ident):
        if candidate in installed:
            raise ConfigError(
                f"plugin name {name!r}: a distribution named {installed[candidate]!r} is already installed; "
                "choose another name"
            )
    points = {point.name: point for point in metadata.entry_points(group="f2g")}
    if ident in points:
        dist = points[ident].dist
        owner = dist.metadata["Name"] if dist is not None else points[ident].value
        raise ConfigError(f"plugin name {name!r}: installed plugin {owner!r} already uses it; choose another name")
    if importlib.util.find_spec(module) is not None:
        raise ConfigError(f"plugin name {name!r}: a module {module!r} is already importable; choose another name")
