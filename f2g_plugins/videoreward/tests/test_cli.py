"""``videoreward`` through the command line on the shapes world, with the miniature (``model: tiny``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from f2g_torch_utils.testing import eval_columns, guided_scores

pytest.importorskip("f2g_plugin_shapes", reason="the shapes world (f2g-plugin-shapes) is the offline backbone")


def test_f2g_generate_guides_with_videoreward(tmp_path: Path) -> None:
    scores = guided_scores(tmp_path, "videoreward", "a red circle moving left")
    assert len(scores) == 4 and len(set(scores)) > 1  # each candidate scored, and they differ


def test_f2g_eval_reports_each_dimension(tmp_path: Path) -> None:
    columns = eval_columns(tmp_path, "videoreward", "a red circle moving left")
    assert columns["overall"] == pytest.approx(columns["VQ"] + columns["MQ"] + columns["TA"], abs=1e-9)
