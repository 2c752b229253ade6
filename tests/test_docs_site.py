"""The documentation site builds in strict mode, and strict mode really catches broken links and lost pages.

The reference pages are generated from the code at build time (scripts/docs_hooks.py), so they cannot be stale;
these tests check that what they generate covers every config field, CLI command and hook.
"""

from __future__ import annotations

import html
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("mkdocs", reason="the docs site needs the dev install (mkdocs, mkdocs-material)")

from f2g_core import hookspecs
from f2g_core.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=config.parent,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    done = _build(ROOT / "mkdocs.yml", site)
    assert done.returncode == 0, done.stderr[-5000:]
    return site


def _text(site: Path, page: str) -> str:
    raw = (site / page / "index.html").read_text(encoding="utf-8")
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


def test_every_page_is_built(site: Path) -> None:
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]

    def pages(entries: list) -> list[str]:
        found = []
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            found += pages(value) if isinstance(value, list) else [value]
        return found

    for page in pages(nav):
        built = site / ("index.html" if page == "index.md" else page.removesuffix(".md") + "/index.html")
        assert built.is_file(), f"{page} is in the nav but was not built"
    for source in (ROOT / "docs").rglob("*.md"):
        assert str(source.relative_to(ROOT / "docs")) in pages(nav), f"{source} is not in the nav of mkdocs.yml"


def test_configuration_reference_covers_every_field(site: Path) -> None:
    from tests.test_docs import _fields

    text = _text(site, "reference/configuration")
    for name in _fields(RunConfig):
        assert name in text, f"the generated configuration reference lacks {name}"
    assert "> 0.0" in text  # limits are shown (guidance.temperature)


def test_cli_reference_covers_every_command(site: Path) -> None:
    import typer

    from f2g_core.cli import app

    text = _text(site, "reference/cli")

    def paths(command, path: str, parent) -> list[str]:
        ctx = command.context_class(command, info_name=path.split()[-1], parent=parent)
        found = [path]
        for name in getattr(command, "list_commands", lambda _: [])(ctx):
            found += paths(command.get_command(ctx, name), f"{path} {name}", ctx)
        return found

    commands = paths(typer.main.get_command(app), "f2g", None)
    assert {"f2g generate", "f2g run", "f2g list rewards", "f2g keys set"} <= set(commands)
    for command in commands:
        assert command in text, f"the generated CLI reference lacks `{command}`"


def test_hook_reference_covers_every_hook(site: Path) -> None:
    text = _text(site, "reference/hooks")
    for name, function in vars(hookspecs).items():
        if inspect.isfunction(function) and hasattr(function, "f2g_spec"):
            assert f"def {name}(" in text


def test_api_reference_documents_every_plugin_facing_class_from_its_docstring(site: Path) -> None:
    import f2g_core
    from f2g_core.population import Toolbox

    text = _text(site, "reference/api")
    public = [name for name in f2g_core.__all__ if inspect.isclass(getattr(f2g_core, name, None))]
    assert {"Sampler", "Toolbox", "Reward", "Backbone", "Metric"} <= set(public)
    missing = [name for name in public if f"{name}\n" not in text and f"{name}(" not in text]
    assert not missing, f"the API reference lacks {missing}"
    methods = [name for name in vars(Toolbox) if not name.startswith("_") and callable(getattr(Toolbox, name))]
    assert [m for m in methods if f"{m}(" not in text] == []
    assert "SamplerContract" in text and "MetricContract" in text
    docstring = (inspect.getdoc(Toolbox.keep_best) or "").replace("``", "")
    assert " ".join(docstring.split()[:12]) in " ".join(text.split())  # rendered from the docstring
    assert ":meth:" not in text and ":class:" not in text  # reStructuredText roles shown as code


def _scratch_site(tmp_path: Path, pages: dict[str, str], nav: list) -> Path:
    """A site with our mkdocs.yml settings (theme, validation, strict) but its own pages and no hooks."""
    settings = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    settings.pop("hooks")
    settings.update(docs_dir="docs", nav=nav)
    (tmp_path / "docs").mkdir()
    for name, text in pages.items():
        (tmp_path / "docs" / name).write_text(text)
    config = tmp_path / "mkdocs.yml"
    config.write_text(yaml.safe_dump(settings))
    return config


def test_strict_build_fails_on_a_broken_link(tmp_path: Path) -> None:
    config = _scratch_site(tmp_path, {"index.md": "# Home\n\nSee [the missing page](missing.md).\n"}, ["index.md"])
    done = _build(config, tmp_path / "site")
    assert done.returncode != 0 and "missing.md" in done.stderr


def test_strict_build_fails_on_a_page_left_out_of_the_nav(tmp_path: Path) -> None:
    config = _scratch_site(tmp_path, {"index.md": "# Home\n", "orphan.md": "# Orphan\n"}, ["index.md"])
    done = _build(config, tmp_path / "site")
    assert done.returncode != 0 and "orphan.md" in done.stderr


def test_strict_build_fails_on_a_broken_anchor(tmp_path: Path) -> None:
    config = _scratch_site(tmp_path, {"index.md": "# Home\n\n[x](#nowhere)\n"}, ["index.md"])
    done = _build(config, tmp_path / "site")
    assert done.returncode != 0 and "nowhere" in done.stderr
