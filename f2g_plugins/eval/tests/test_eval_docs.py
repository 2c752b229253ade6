"""Every ``f2g eval`` option is documented in docs/evaluation.md."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from f2g_eval.cli import eval_command

pytestmark = pytest.mark.plugin_independent  # never loads the installed plugins (tests/conftest.py)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "evaluation.md"


def test_every_eval_option_is_documented() -> None:
    text = DOCS.read_text()
    for name in inspect.signature(eval_command).parameters:
        if name == "suite":
            continue
        flag = "--" + name.replace("_", "-")
        assert f"`{flag}" in text or f"/ {flag}" in text, f"docs/evaluation.md does not document {flag}"
