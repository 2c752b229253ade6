"""Every hook and every configuration field is documented (datasette-style checks)."""

import importlib.util
import inspect
import itertools
import re
from pathlib import Path
from typing import Any, get_args

import typer
from pydantic import BaseModel

import f2g_core
from f2g_core import hookspecs
from f2g_core.config import RunConfig

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_hook_is_documented_with_its_signature() -> None:
    text = (DOCS / "plugins.md").read_text()
    hooks = [name for name, fn in vars(hookspecs).items() if inspect.isfunction(fn) and hasattr(fn, "f2g_spec")]
    assert {"register_rewards", "register_combiners", "register_backbones"} <= set(hooks)
    for name in hooks:
        args = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"`{name}({args})" in text, f"docs/plugins.md lacks the signature of hook {name}({args})"


def _fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        items = get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _fields(annotation, f"{prefix}{name}.")
        elif items and isinstance(items[0], type) and issubclass(items[0], BaseModel):
            optional = type(None) in items  # Model | None is one block; list[Model] is many
            names += _fields(items[0], f"{prefix}{name}." if optional else f"{prefix}{name}[i].")
        else:
            names.append(prefix + name)
    return names


def test_every_config_field_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    for name in _fields(RunConfig):
        assert f"`{name}`" in text, f"docs/configuration.md does not document `{name}`"


ROOT = Path(__file__).resolve().parents[1]
_SUBMODULE_IMPORT = re.compile(r"^\s*from (f2g_core\.[\w.]+) import \(?([\w, ]+)", re.MULTILINE)


def test_examples_and_scaffolds_import_plugin_names_from_the_facade() -> None:
    """A name ``f2g_core`` exports is imported from ``f2g_core`` in every doc example and scaffold template, never
    from the submodule it lives in (the submodules are free to move)."""
    files = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    files += sorted((ROOT / "f2g_core" / "scaffold" / "templates").rglob("*.tmpl"))
    wrong = [
        f"{path.relative_to(ROOT)}: from {module} import {name}"
        for path in files
        for module, names in _SUBMODULE_IMPORT.findall(path.read_text(encoding="utf-8"))
        for name in (n.strip() for n in names.split(","))
        if name in f2g_core.__all__
    ]
    assert not wrong, f"import these from f2g_core instead: {wrong}"


def _documented_commands() -> list[tuple[tuple[str, ...], list[str]]]:
    """The rows of docs/cli.md's table: the command (the words after ``f2g`` up to the first argument or option,
    ``a\\|b`` alternatives expanded) and the positional arguments written right after it (``NAME``)."""
    rows: list[tuple[tuple[str, ...], list[str]]] = []
    for line in (ROOT / "docs" / "cli.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `f2g ([^`]*)`", line)
        if not match:
            continue
        tokens = match[1].split()
        words: list[list[str]] = []
        while tokens and all(re.fullmatch(r"[a-z][a-z-]*", word) for word in tokens[0].split("\\|")):
            words.append(tokens.pop(0).split("\\|"))
        arguments = list(itertools.takewhile(lambda token: re.fullmatch(r"[A-Z][A-Z_]*", token), tokens))
        rows += [(command, arguments) for command in itertools.product(*words)] if words else []
    return rows


def _cli_commands(group: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], tuple[set[str], set[str]]]:
    """Every leaf command of the CLI (groups walked) → (its required, all) positional arguments, upper-cased."""
    found: dict[tuple[str, ...], tuple[set[str], set[str]]] = {}
    context = group.context_class(group, info_name=" ".join(prefix) or "f2g")
    for name in group.list_commands(context):  # as click lists them: plugins' commands included
        command = group.get_command(context, name)
        if hasattr(command, "commands"):
            found |= _cli_commands(command, (*prefix, name))
            continue
        arguments = [p for p in command.params if getattr(p, "param_type_name", "") == "argument"]
        names = {p.name.upper(): bool(p.required) for p in arguments}
        found[(*prefix, name)] = ({n for n, required in names.items() if required}, set(names))
    return found


def test_cli_md_lists_every_command_the_cli_has_with_its_arguments() -> None:
    from f2g_core.cli import app

    rows, actual = _documented_commands(), _cli_commands(typer.main.get_command(app))
    if importlib.util.find_spec("f2g_eval") is None:  # `f2g eval` comes from f2g-eval (the core-alone stage)
        rows = [(command, arguments) for command, arguments in rows if command[0] != "eval"]
    documented = {command for command, _ in rows}
    assert documented == set(actual), (
        f"undocumented: {sorted(set(actual) - documented)}; documented but missing: {sorted(documented - set(actual))}"
    )
    for command, arguments in rows:
        required, known = actual[command]
        assert required <= set(arguments) <= known, (
            f"docs/cli.md: `f2g {' '.join(command)} {' '.join(arguments)}`; the command takes {sorted(known)} "
            f"(required: {sorted(required)})"
        )
