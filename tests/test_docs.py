"""Every hook and every configuration field is documented (datasette-style checks)."""

import inspect
from pathlib import Path
from typing import get_args

from pydantic import BaseModel

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
