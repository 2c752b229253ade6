"""MkDocs hooks: reference pages generated from the live code at build time, so they can never be stale.

* ``reference/configuration.md`` from the pydantic models of :class:`f2g_core.config.RunConfig`;
* ``reference/cli.md`` from the ``f2g`` click/typer command tree (every sub-command, argument and option);
* ``reference/hooks.md`` from :mod:`f2g_core.hookspecs` (signature, ``firstresult``, docstring);
* ``reference/components.md`` from the components the installed plugins register, with their Options;
* ``reference/api.md``: the API reference of the plugin-facing classes and functions (every name of the
  :mod:`f2g_core` facade, and the contract test bases), rendered from their docstrings by mkdocstrings.

Links from a page to a repository file outside ``docs/`` (``../examples/x.yaml``) are served as a copy under
``repo/`` so they work on the site; a link to a file that does not exist stays broken and fails the strict build.
"""

from __future__ import annotations

import inspect
import posixpath
import re
from pathlib import Path
from typing import Any, get_args

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.pages import Page
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
GENERATED = "Generated from the code by `scripts/docs_hooks.py` when the site is built; edit the code, not this page."
_OUTSIDE_LINK = re.compile(r"\]\((\.\./[^)#\s]+)(#[^)\s]*)?\)")
_LOCAL_LINK = re.compile(r"\]\((?!https?:|#|/)([^)#\s]+)(#[^)\s]*)?\)")  # links inside copied repository pages


def _cell(text: Any) -> str:
    return _md(str(text)).replace("|", "\\|").replace("\n", " ")


def _md(text: str) -> str:
    """reStructuredText-isms of our docstrings as Markdown: ``x`` and :class:`~a.b.X` become `x` and `X`."""
    text = re.sub(r":(?:class|func|meth|mod|data|attr):`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


# ------------------------------------------------------------------------------------------ configuration


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The pydantic model inside a field's annotation and the key suffix (``[i]`` for lists of models; none for an
    optional block, ``Model | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    args = get_args(annotation)
    for arg in args:
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg, "" if type(None) in args else "[i]"
    return None, ""


def configuration_page() -> str:
    from f2g_core.config import RunConfig
    from f2g_core.describe import field_default, field_limits, type_name

    lines = ["# Configuration reference", "", GENERATED, ""]
    lines += [
        "A run config is YAML, TOML or JSON with the keys below (see [the configuration guide](../configuration.md)"
        " for worked examples). Component blocks take `options` validated by the component's own `Options`: "
        "those are listed in [Components](components.md).",
        "",
    ]
    queue: list[tuple[str, type[BaseModel]]] = [("", RunConfig)]
    while queue:
        prefix, model = queue.pop(0)
        title = prefix or "top level"
        lines += [f"## `{title}`" if prefix else "## Top level", ""]
        doc = inspect.getdoc(model)
        if doc:
            lines += [_md(doc.splitlines()[0]), ""]
        lines += ["| key | type | default | limits | description |", "|---|---|---|---|---|"]
        for name, field in model.model_fields.items():
            nested, suffix = _model_of(field.annotation)
            key = f"{prefix}.{name}" if prefix else name
            default = field_default(field)
            shown = f"`{key}`"
            if nested is not None:
                queue.append((key + suffix, nested))
                shown = f"[`{key}{suffix}`](#{re.sub(r'[^a-z0-9_-]', '', (key + suffix).lower())})"
                default = "required" if field.is_required() else "see below"
            lines.append(
                f"| {shown} | {_cell(type_name(field.annotation))} | {_cell(default)} "
                f"| {_cell(field_limits(field))} | {_cell(field.description or '')} |"
            )
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- CLI


def _param_rows(params: list[Any], ctx: Any) -> list[str]:
    """Table rows from each parameter's own help record (typer ships its own click: use only that API)."""
    rows = []
    for param in params:
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        kind = "argument" if param.param_type_name == "argument" else "option"
        rows.append(f"| `{_cell(names)}` | {kind} | {_cell(help_text)} |")
    return rows


def _command_lines(command: Any, path: str, parent: Any) -> list[str]:
    ctx = command.context_class(command, info_name=path.split()[-1], parent=parent)
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines = [f"## `{path}`", "", (command.help or "").strip(), "", f"```\n{path} {usage}\n```", ""]
    params = [p for p in command.get_params(ctx) if p.name != "help"]
    if params:
        lines += ["| name | kind | description |", "|---|---|---|", *_param_rows(params, ctx), ""]
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                lines += _command_lines(sub, f"{path} {name}", ctx)
    return lines


def cli_page() -> str:
    import typer

    from f2g_core.cli import app

    command = typer.main.get_command(app)
    lines = ["# CLI reference", "", GENERATED, "", "See [the CLI guide](../cli.md) for exit codes and examples.", ""]
    return "\n".join(lines + _command_lines(command, "f2g", None))


# ----------------------------------------------------------------------------------------------- hooks


def hooks_page() -> str:
    from f2g_core import hookspecs

    lines = ["# Hook reference", "", GENERATED, ""]
    lines += [
        "Implement any subset in your plugin module with `@hookimpl` (`from f2g_core.hookspecs import hookimpl`) "
        "and expose the module under the `f2g` entry-point group. Arguments are opt-in: name only those you use. "
        "The [tutorial](../tutorial.md) builds a plugin step by step.",
        "",
    ]
    for name, function in sorted(vars(hookspecs).items()):
        if not (inspect.isfunction(function) and hasattr(function, "f2g_spec")):
            continue
        options = getattr(function, "f2g_spec", {}) or {}
        signature = f"{name}{inspect.signature(function)}".replace("'", "")
        lines += [f"## `{name}`", "", f"```python\n@hookimpl\ndef {signature}: ...\n```", ""]
        if options.get("firstresult"):
            lines += ["*First result wins*: the first plugin returning something other than `None` decides.", ""]
        lines += [_md(inspect.getdoc(function) or ""), ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ components


def components_page() -> str:
    from f2g_core.describe import field_default, field_limits, type_name
    from f2g_core.plugins import default_plugins
    from f2g_core.registry import KINDS

    loaded = default_plugins()
    lines = ["# Components", "", GENERATED, ""]
    lines += [
        "Every component the plugins installed in the docs build environment register, with its options "
        "(`f2g list rewards --options` prints the same for your own environment).",
        "",
    ]
    for kind in KINDS:
        entries = loaded.registry.components(kind)
        lines += [f"## {kind.capitalize()}s", ""]
        for entry in entries:
            aliases = f" (aliases: {', '.join(f'`{a}`' for a in entry.aliases)})" if entry.aliases else ""
            lines += [f"### `{entry.name}`", "", f"{entry.cls.description()} Plugin `{entry.plugin}`{aliases}.", ""]
            fields = entry.cls.Options.model_fields
            if fields:
                lines += ["| option | type | default | limits | description |", "|---|---|---|---|---|"]
                lines += [
                    f"| `{n}` | {_cell(type_name(f.annotation))} | {_cell(field_default(f))} "
                    f"| {_cell(field_limits(f))} | {_cell(f.description or '')} |"
                    for n, f in fields.items()
                ]
                lines.append("")
    if loaded.failures:
        lines += ["## Plugins that failed to load", ""]
        lines += [f"- `{info.name}`: {_cell(info.error)}" for info in loaded.failures]
    return "\n".join(lines)


API_SECTIONS = {
    "f2g_core.interfaces": "Components: rewards, combiners, backbones",
    "f2g_core.population": "Search methods: the sampler, its toolbox and what it returns",
    "f2g_core.randomness": "Search methods: the sampler, its toolbox and what it returns",
    "f2g_core.evaluation": "Evaluation: metrics and suites",
    "f2g_core.contracts": "Contract tests",
    "f2g_core.errors": "Errors",
}
"""Where each facade module's names go on the API page (anything else: "Running")."""


def api_page() -> str:
    """mkdocstrings directives for every class and function of the :mod:`f2g_core` facade and every contract base,
    grouped by what a plugin author writes; generated from the facade so a new name cannot be left out."""
    import importlib

    import f2g_core
    import f2g_core.contracts

    names = [(module, name) for name, module in f2g_core._LAZY.items()]
    names += [("f2g_core.contracts", name) for name in f2g_core.contracts.__all__]
    sections: dict[str, list[str]] = {}
    for module, name in names:
        value = getattr(importlib.import_module(module), name)
        if inspect.isclass(value) or inspect.isfunction(value):
            section = sections.setdefault(API_SECTIONS.get(module, "Running"), [])
            section += [f"::: {value.__module__}.{value.__qualname__}", ""]
    lines = ["# API reference", "", GENERATED, ""]
    lines += [
        "The classes and functions a plugin imports (`from f2g_core import …`; the contract bases from "
        "`f2g_core.contracts`), from their docstrings. The guides explain how they fit: "
        "[rewards](../rewards.md), [samplers](../samplers.md), [testing](../testing.md).",
        "",
    ]
    for title, directives in sections.items():
        lines += [f"## {title}", "", *dict.fromkeys(directives)]
    return "\n".join(lines)


PAGES = {
    "reference/configuration.md": configuration_page,
    "reference/cli.md": cli_page,
    "reference/hooks.md": hooks_page,
    "reference/components.md": components_page,
    "reference/api.md": api_page,
}


# ---------------------------------------------------------------------------------------- mkdocs events


def _links(file: File) -> list[re.Match[str]]:
    """Links a page makes to repository files: ``../…`` from docs pages, any relative link from copied ones."""
    pattern = _LOCAL_LINK if file.src_uri.startswith("repo/") else _OUTSIDE_LINK
    assert file.abs_src_path is not None
    return list(pattern.finditer(Path(file.abs_src_path).read_text(encoding="utf-8")))


def _site_uri(file: File, target: str, docs: Path) -> str | None:
    """Where a link's target lives on the site (``x.md`` in docs, ``repo/<path>`` for other repository files)."""
    assert file.abs_src_path is not None
    source = (Path(file.abs_src_path).parent / target).resolve()
    if not source.is_file():
        return None
    if source.is_relative_to(docs):
        return source.relative_to(docs).as_posix()
    if source.is_relative_to(ROOT):
        return "repo/" + source.relative_to(ROOT).as_posix()
    return None


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated pages and the repository files that pages (and those files, if pages) link to."""
    for uri, make in PAGES.items():
        files.append(File.generated(config, uri, content=make()))
    docs = Path(config["docs_dir"]).resolve()
    pending = [f for f in files if f.src_uri.endswith(".md") and f.abs_src_path]
    while pending:
        page = pending.pop()
        for match in _links(page):
            uri = _site_uri(page, match.group(1), docs)
            if uri is None or not uri.startswith("repo/") or files.get_file_from_path(uri) is not None:
                continue
            added = File.generated(config, uri, abs_src_path=str(ROOT / uri.removeprefix("repo/")))
            if uri.endswith(".md"):  # served as a page, reachable by its links only
                added.inclusion = InclusionLevel.NOT_IN_NAV
                pending.append(added)
            files.append(added)
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Point links to repository files at their copies under ``repo/`` (and copied pages' links back at docs/)."""
    docs = Path(config["docs_dir"]).resolve()
    if page.file.abs_src_path is None:
        return markdown
    pattern = _LOCAL_LINK if page.file.src_uri.startswith("repo/") else _OUTSIDE_LINK

    def rewrite(match: re.Match[str]) -> str:
        uri = _site_uri(page.file, match.group(1), docs)
        if uri is None:
            return match.group(0)  # left as written: mkdocs reports it and the strict build fails
        relative = posixpath.relpath(uri, posixpath.dirname(page.file.src_uri) or ".")
        return f"]({relative}{match.group(2) or ''})"

    return pattern.sub(rewrite, markdown)


_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc):(<code>)~?")


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Docstrings' reStructuredText roles on the API page (``:class:`~a.X```, rendered as ``:class:`` and code)
    shown as the code alone, as :func:`_md` does for the other generated pages."""
    return _ROLE.sub(r"\1", html) if page.file.src_uri == "reference/api.md" else html
