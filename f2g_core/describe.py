"""Plain-words descriptions of pydantic fields: type, default and limits, for `f2g list --options` and the docs.

Option limits (``gt=0``, ``ge=1``, ``max_length`` …) live in field metadata that a table of names and defaults
hides; both the CLI listing and the generated configuration reference show them through these helpers, so the two
can never disagree.
"""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic.fields import FieldInfo

_BOUNDS = (
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Ge, "ge", "≥"),
    (annotated_types.Lt, "lt", "<"),
    (annotated_types.Le, "le", "≤"),
)


def type_name(annotation: Any) -> str:
    """A short readable type: ``int``, ``float | None``, ``'argmax' | 'soft'``, ``list[int]``."""
    origin = get_origin(annotation)
    if origin is Literal:
        return " | ".join(repr(value) for value in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in get_args(annotation))
    if origin is not None:
        args = ", ".join(type_name(arg) for arg in get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def field_limits(field: FieldInfo) -> str:
    """The field's constraints in words, e.g. ``> 0``, ``≥ 1, ≤ 1024``, ``length ≥ 1``; empty when none."""
    limits: list[str] = []
    for item in field.metadata:
        for kind, attribute, symbol in _BOUNDS:
            if isinstance(item, kind):
                limits.append(f"{symbol} {getattr(item, attribute)}")
        if isinstance(item, annotated_types.MinLen):
            limits.append(f"length ≥ {item.min_length}")
        if isinstance(item, annotated_types.MaxLen):
            limits.append(f"length ≤ {item.max_length}")
        if isinstance(item, annotated_types.MultipleOf):
            limits.append(f"multiple of {item.multiple_of}")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            limits.append(f"matches {pattern}")
    return ", ".join(limits)


def field_default(field: FieldInfo) -> str:
    """``required`` or the default's repr (factories called, so lists show their value)."""
    return "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
