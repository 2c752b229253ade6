"""Scores apart from videos: a metric added to a finished eval, or a new version of one, scores the stored videos
without sampling any; stores in the first schema (one ``results`` table, metrics as a JSON blob) are migrated with
every row; scoring in batches on several workers gives the values of one video at a time."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from f2g_core.evaluation import Metric, SuiteItem
from f2g_core.pipeline import Pipeline

from f2g_eval import metrics as metrics_module
from f2g_eval.jobs import JobResult
from f2g_eval.store import Store

from .conftest import read_csv, run_cli


class Mean(Metric):
    """The mean of the frames; counts the videos it measured."""

    name = "mean"
    measured: ClassVar[list[str]] = []

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        type(self).measured.append(item.id)
        return {self.name: float(video.mean())}


class Spread(Mean):
    """The standard deviation of the frames; its own count."""

    name = "spread"
    measured: ClassVar[list[str]] = []

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        type(self).measured.append(item.id)
        return {self.name: float(video.std())}


class Flaky(Mean):
    """Fails until :attr:`fixed`."""

    name = "flaky"
    fixed: ClassVar[bool] = False

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        if not type(self).fixed:
            raise ValueError("no score today")
        return {self.name: 0.25}


@pytest.fixture
def metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """The metrics above, registered as a plugin would (beside the installed ones), with empty counts."""
    found = {**metrics_module.registered_metrics(), **{cls.name: cls for cls in (Mean, Spread, Flaky)}}
    monkeypatch.setattr(metrics_module, "registered_metrics", lambda: found)
    for cls in (Mean, Spread):
        monkeypatch.setattr(cls, "measured", [])


@pytest.fixture
def sampled(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many videos each call of ``Pipeline.generate_pairs`` sampled (every eval video is made by it)."""
    calls: list[int] = []
    generate = Pipeline.generate_pairs

    def counted(self: Pipeline, pairs: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(pairs))
        return generate(self, pairs, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "generate_pairs", counted)
    return calls


def core_eval(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["eval", str(files["suite"]), "-c", str(files["core"]), "--out", str(out), "--no-report", *extra]


def values(out: Path, column: str) -> dict[tuple[str, str], str]:
    return {(r["item_id"], r["seed"]): r[column] for r in read_csv(out / "results.csv")}


def test_adding_a_metric_to_a_finished_eval_scores_its_videos_without_sampling(
    eval_files, tmp_path, metrics, sampled, capsys
) -> None:
    """The shapes world: a finished eval with ``--metric shapes`` gains ``--metric mean``; its values equal those
    of an eval that had both metrics from the start (a stored video is scored from the frames it was made with)."""
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    base = ["eval", str(eval_files["suite"]), "-c", str(eval_files["base"]), "--seeds", "0-1", "--no-report"]
    assert run_cli([*base, "--metric", "shapes", "--out", str(out)]) == 0
    assert sum(sampled) == 4
    shapes = values(out, "shapes.score")
    sampled.clear()
    capsys.readouterr()

    assert run_cli([*base, "--metric", "shapes", "--metric", "mean", "--out", str(out)]) == 0
    assert sampled == [] and "(0 videos generated now, 4 stored videos scored)" in capsys.readouterr().out
    assert len(Mean.measured) == 4 and values(out, "shapes.score") == shapes  # shapes was not measured again

    assert run_cli([*base, "--metric", "shapes", "--metric", "mean", "--out", str(fresh)]) == 0
    assert values(out, "mean") == values(fresh, "mean") and len(values(out, "mean")) == 4


def test_a_new_metric_version_rescores_that_metric_only(core_files, tmp_path, metrics, sampled, monkeypatch) -> None:
    out = tmp_path / "out"
    args = core_eval(core_files, out, "--seeds", "0-1", "--metric", "mean", "--metric", "spread")
    assert run_cli(args) == 0
    assert (len(Mean.measured), len(Spread.measured), sum(sampled)) == (4, 4, 4)
    first = values(out, "spread")

    monkeypatch.setattr(Spread, "version", 2)
    Mean.measured.clear()
    Spread.measured.clear()
    sampled.clear()
    assert run_cli(args) == 0
    assert (len(Mean.measured), len(Spread.measured), sum(sampled)) == (0, 4, 0)
    assert values(out, "spread") == first  # the same rule, measured again: the same values
    with sqlite3.connect(out / "results.sqlite") as db:
        kept = db.execute("SELECT metric, version, COUNT(*) FROM scores GROUP BY metric, version").fetchall()
    assert sorted(kept) == [("mean", 1, 4), ("spread", 1, 4), ("spread", 2, 4)]  # the old version's rows stay

    Spread.measured.clear()
    assert run_cli(args) == 0
    assert Spread.measured == [] and Mean.measured == []  # every score current: nothing to do


def test_batched_scoring_on_several_workers_gives_the_values_of_one_at_a_time(
    core_files, tmp_path, metrics, sampled
) -> None:
    first = tmp_path / "first"
    assert run_cli(core_eval(core_files, first, "--seeds", "0-3")) == 0
    twin = tmp_path / "twin"
    shutil.copytree(first, twin)
    sampled.clear()
    assert run_cli(core_eval(core_files, first, "--seeds", "0-3", "--metric", "mean", "--metric", "brightness")) == 0
    spread = ["--workers", "2", "--batch", "3"]
    assert (
        run_cli(core_eval(core_files, twin, "--seeds", "0-3", "--metric", "mean", "--metric", "brightness", *spread))
        == 0
    )
    assert sampled == [] and len(Mean.measured) == 16
    for column in ("mean", "brightness"):
        assert values(first, column) == values(twin, column) and len(values(first, column)) == 8


def test_a_metric_failing_on_a_stored_video_keeps_it_and_is_retried(
    core_files, tmp_path, metrics, sampled, monkeypatch, capsys
) -> None:
    out = tmp_path / "out"
    assert run_cli(core_eval(core_files, out, "--metric", "mean")) == 0
    capsys.readouterr()
    assert run_cli(core_eval(core_files, out, "--metric", "mean", "--metric", "flaky")) == 0
    assert "2 metric value(s) failed" in capsys.readouterr().out
    rows = read_csv(out / "results.csv")
    assert [r["flaky"] for r in rows] == ["nan", "nan"] and all(r["mean"] != "nan" for r in rows)
    with Store(out / "results.sqlite") as store:
        assert all("metric 'flaky' failed: ValueError: no score today" in r.events for r in store.rows())
    (out / rows[0]["run_dir"] / "frames.npz").unlink()
    monkeypatch.setattr(Flaky, "fixed", True)
    assert run_cli(core_eval(core_files, out, "--metric", "mean", "--metric", "flaky")) == 0
    assert sampled == [1, 1]  # only the first run made videos
    again = {r["run_dir"]: r["flaky"] for r in read_csv(out / "results.csv")}
    assert again == {rows[0]["run_dir"]: "nan", rows[1]["run_dir"]: "0.25"}  # retried: fixed, or still failing
    with Store(out / "results.sqlite") as store:
        events = {r.run_dir: r.events for r in store.rows()}
    assert any("frames.npz is missing" in e and "make it again" in e for e in events[rows[0]["run_dir"]])
    assert not any("flaky" in e for e in events[rows[1]["run_dir"]])


FIRST_SCHEMA = """
CREATE TABLE results (
    item_id TEXT NOT NULL, seed INTEGER NOT NULL, config_hash TEXT NOT NULL, config TEXT NOT NULL,
    seed_index INTEGER NOT NULL, prompt TEXT NOT NULL, category TEXT, dimension TEXT NOT NULL,
    metrics TEXT NOT NULL, model_calls INTEGER NOT NULL, reward_calls INTEGER NOT NULL, tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL, seconds REAL NOT NULL, run_dir TEXT NOT NULL, steps TEXT NOT NULL, events TEXT NOT NULL,
    worker TEXT NOT NULL, finished_at REAL NOT NULL, PRIMARY KEY (item_id, seed, config_hash)
);
CREATE TABLE configs (config_hash TEXT PRIMARY KEY, name TEXT NOT NULL, config TEXT NOT NULL);
CREATE TABLE failures (
    item_id TEXT NOT NULL, seed INTEGER NOT NULL, config_hash TEXT NOT NULL, error TEXT NOT NULL,
    failed_at REAL NOT NULL
);
"""
"""The store as ``f2g eval`` wrote it before scores were kept apart (and before reward_rounds / phase_seconds)."""


def test_a_first_schema_store_is_migrated_keeping_every_row(tmp_path) -> None:
    path = tmp_path / "results.sqlite"
    old = sqlite3.connect(path)
    old.executescript(FIRST_SCHEMA)
    note = "metric 'm' (bad) failed: it returned str 'x', not a number"
    blobs = [
        ({"m.good": 0.1 + 0.2, "m.bad": math.nan, "m.none": None, "clip": 1 / 3}, ["budget spent", note]),
        ({"m.good": 1.0, "m.bad": 0.0, "m.none": None, "clip": 0.0}, []),
    ]
    for seed, (metrics, events) in enumerate(blobs):
        old.execute(
            "INSERT INTO results VALUES ('a', ?, 'h', 'c', ?, 'p', NULL, 'd', ?, 10, 2, 0, 0, 1.5, ?, '[]', ?, 'w', 0)",
            (seed, seed, json.dumps(metrics), f"runs/c/a/{seed}", json.dumps(events)),
        )
    old.commit()
    old.close()

    with Store(path) as store:
        rows = store.rows([("a", 0, "h"), ("a", 1, "h")])
        # m failed on seed 0: a run with --metric m scores it again
        assert store.scored({"m": 1, "clip": 1}) == {
            (("a", 1, "h"), "m"),
            (("a", 1, "h"), "clip"),
            (("a", 0, "h"), "clip"),
        }
        assert store.scored({"m": 2}) == set()  # a new version of m: every video is scored again
    for row, (metrics, events) in zip(rows, blobs, strict=True):
        assert json.dumps(row.metrics) == json.dumps(metrics) and row.events == events  # order, NaN, None kept
        assert (row.model_calls, row.reward_rounds, row.phase_seconds) == (10, 0, {})
    with sqlite3.connect(path) as db:  # readers of the first schema (benchmarks/scaling_table.py) read the same
        (blob,) = db.execute("SELECT metrics FROM results WHERE seed = 0").fetchone()
        assert db.execute("SELECT COUNT(*) FROM videos").fetchone() == (2,)
    assert json.loads(blob)["m.good"] == 0.1 + 0.2 and math.isnan(json.loads(blob)["m.bad"])

    with Store(path) as store:  # opened again: already migrated, nothing changes
        again = store.rows([("a", 0, "h"), ("a", 1, "h")])
        assert json.dumps([r.to_dict() for r in again]) == json.dumps([r.to_dict() for r in rows])
        new = JobResult(**{**rows[1].to_dict(), "item_id": "b", "reward_rounds": 3, "phase_seconds": {"reward": 0.5}})
        assert store.add(new)
        assert {r.item_id: r.reward_rounds for r in store.rows()} == {"a": 0, "b": 3}
