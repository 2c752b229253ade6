"""Option limits are shown in words, by `f2g list … --options` and the generated reference alike."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from typer.testing import CliRunner

from f2g_core.cli import app
from f2g_core.describe import field_default, field_limits, type_name


class _Example(BaseModel):
    rate: float = Field(1.0, gt=0.0, le=10.0)
    count: int | None = Field(None, ge=1)
    name: str = Field(min_length=1, max_length=8)
    mode: Literal["a", "b"] = "a"
    frames: list[int] = Field(default_factory=lambda: [0, 5])


def test_limits_types_and_defaults_in_words() -> None:
    fields = _Example.model_fields
    assert field_limits(fields["rate"]) == "> 0.0, ≤ 10.0"
    assert field_limits(fields["count"]) == "≥ 1"
    assert field_limits(fields["name"]) == "length ≥ 1, length ≤ 8"
    assert field_limits(fields["mode"]) == ""
    assert type_name(fields["count"].annotation) == "int | None"
    assert type_name(fields["mode"].annotation) == "'a' | 'b'"
    assert type_name(fields["frames"].annotation) == "list[int]"
    assert field_default(fields["name"]) == "required"
    assert field_default(fields["frames"]) == "[0, 5]"


def test_list_options_shows_limits() -> None:
    """The built-in normalized-sum combiner declares min_std > 0: the listing must say so (not only --json)."""
    done = CliRunner().invoke(app, ["list", "combiners", "--options"], env={"COLUMNS": "250"})
    assert done.exit_code == 0, done.output
    assert "limits" in done.output
    assert next(line for line in done.output.splitlines() if "min_std" in line).count("> 0") == 1
