"""``videoscore`` through the command line on the shapes world, with the miniature (``model: tiny``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from f2g_torch_utils.testing import eval_columns, guided_scores

pytest.importorskip("f2g_plugin_shapes", reason="the shapes world (f2g-plugin-shapes) is the offline backbone")

DIMENSIONS = ("visual_quality", "temporal_consistency", "dynamic_degree", "text_alignment", "factual_consistency")


def test_f2g_generate_guides_with_videoscore(tmp_path: Path) -> None:
    scores = guided_scores(tmp_path, "videoscore", "a yellow triangle above a green circle")
    assert len(scores) == 4 and len(set(scores)) > 1  # each candidate scored, and they differ


def test_f2g_eval_reports_each_dimension(tmp_path: Path) -> None:
    columns = eval_columns(tmp_path, "videoscore", "a yellow triangle above a green circle")
    values = [columns[d] for d in DIMENSIONS]
    assert columns["mean"] == pytest.approx(np.mean(values), abs=1e-9)
    assert len(set(values)) == len(values)  # five distinct outputs, not one copied
