"""``f2g eval --batch``: several videos of one config sampled together, the same rows, and a bad job fails alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from f2g_core.pipeline import Pipeline

from .conftest import eval_args, read_csv, run_cli


def rows_of(out: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    return {(r["item_id"], r["seed"], r["config"]): r for r in read_csv(out / "results.csv")}


@pytest.fixture
def batch_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many videos each ``generate_pairs`` call of the eval sampled together."""
    sizes: list[int] = []
    original = Pipeline.generate_pairs

    def spy(self: Pipeline, pairs: Any, *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(pairs))
        return original(self, pairs, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "generate_pairs", spy)
    return sizes


def test_batched_eval_gives_the_rows_of_one_video_at_a_time(eval_files, tmp_path, batch_sizes) -> None:
    assert run_cli(eval_args(eval_files, tmp_path / "one", "--no-report")) == 0
    assert batch_sizes == [1] * 8
    batch_sizes.clear()
    assert run_cli(eval_args(eval_files, tmp_path / "three", "--no-report", "--batch", "3")) == 0
    assert sorted(batch_sizes) == [1, 1, 3, 3]  # 4 jobs per config: a batch of 3, then 1
    one, three = rows_of(tmp_path / "one"), rows_of(tmp_path / "three")
    assert one.keys() == three.keys() and len(one) == 8
    for key, row in one.items():
        assert three[key]["shapes.overall"] == row["shapes.overall"], key
        assert float(three[key]["shapes.score"]) == pytest.approx(float(row["shapes.score"]), abs=1e-3), key
        assert three[key]["model_calls"] == row["model_calls"]


def test_a_job_that_fails_in_a_batch_fails_alone(eval_files, tmp_path, monkeypatch, capsys) -> None:
    from f2g_plugin_shapes.backbone import ShapesBackbone

    original = ShapesBackbone.encode_prompt

    def encode(self: ShapesBackbone, prompt: str, *args: Any) -> Any:
        if prompt.startswith("a blue square"):
            raise ValueError("this prompt cannot be encoded")
        return original(self, prompt, *args)

    monkeypatch.setattr(ShapesBackbone, "encode_prompt", encode)
    out = tmp_path / "out"
    assert run_cli(eval_args(eval_files, out, "--no-report", "--batch", "4")) == 1
    rows = rows_of(out)
    assert len(rows) == 4 and all(r["prompt"] == "a red circle moving left" for r in rows.values())
    err = capsys.readouterr().err
    assert "4 job(s) failed" in err and "ValueError: this prompt cannot be encoded" in err
