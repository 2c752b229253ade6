"""``f2g eval`` end to end on the shapes world: 2 prompts × 2 seeds × 2 configs, resumed, edited, killed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from .conftest import eval_args, read_csv, run_cli


def test_eval_writes_every_job_once_and_resumes_without_redoing(eval_files, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert run_cli(eval_args(eval_files, out, "--baseline", "base", "--export", "vbench")) == 0
    rows = read_csv(out / "results.csv")
    assert len(rows) == 8
    assert {(r["item_id"], r["seed"], r["config"]) for r in rows} == {
        (i, s, c) for i in {r["item_id"] for r in rows} for s in ("0", "1") for c in ("base", "guided")
    }
    for r in rows:
        assert r["shapes.overall"] in ("0.0", "1.0") and 0 <= float(r["shapes.score"]) <= 1
        assert (out / r["run_dir"] / "video.gif").is_file()
        assert int(r["model_calls"]) == (8 if r["config"] == "base" else 8 + 2 * (3 - 1))  # T + K(n − 1)
        assert int(r["reward_calls"]) == (0 if r["config"] == "base" else 2 * 3)
    summary = (out / "summary.md").read_text()
    assert "| base | 4 |" in summary and "## Paired differences against base" in summary
    assert (out / "report.html").stat().st_size > 1000
    vbench = sorted(p.relative_to(out / "vbench").as_posix() for p in (out / "vbench").rglob("*.mp4"))
    assert "base/all/a red circle moving left-0.mp4" in vbench and "guided/all/a red circle moving left-1.mp4" in vbench
    assert len(vbench) == 8
    capsys.readouterr()

    assert run_cli(eval_args(eval_files, out)) == 0
    assert "(0 videos generated now, 0 stored videos scored)" in capsys.readouterr().out
    again = read_csv(out / "results.csv")
    assert [r["run_dir"] for r in again] == [r["run_dir"] for r in rows]  # nothing redone

    eval_files["guided"].write_text(eval_files["guided"].read_text().replace("num_candidates: 3", "num_candidates: 2"))
    assert run_cli(eval_args(eval_files, out)) == 0
    assert "(4 videos generated now, 0 stored" in capsys.readouterr().out  # only the edited config's jobs
    edited = read_csv(out / "results.csv")
    assert len(edited) == 8 and {r["run_dir"] for r in edited if r["config"] == "base"} == {
        r["run_dir"] for r in rows if r["config"] == "base"
    }
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 12  # the old guided rows are kept


def test_bad_inputs_fail_before_any_video(eval_files, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert run_cli(eval_args(eval_files, out, "--baseline", "nope")) == 2
    assert "--baseline 'nope': not one of the configs (base, guided)" in capsys.readouterr().err
    assert run_cli(eval_args(eval_files, out, "--metric", "no-such-metric")) == 2
    assert "--metric 'no-such-metric': no metric or reward of that name" in capsys.readouterr().err
    assert run_cli(eval_args(eval_files, out, "--seeds", "3-x")) == 2
    twin = tmp_path / "twin.yaml"
    twin.write_text(eval_files["base"].read_text().replace("[gif]", "[mp4]"))
    assert run_cli([*eval_args(eval_files, out), "-c", str(twin)]) == 2
    assert "configs 'base' and 'twin' make the same videos" in capsys.readouterr().err
    assert not (out / "results.sqlite").exists()


def test_metric_used_for_guidance_is_reported_as_not_held_out(eval_files, tmp_path) -> None:
    from f2g_eval.runner import EvalSpec, prepare

    oracle = tmp_path / "oracle.yaml"
    oracle.write_text(eval_files["guided"].read_text().replace("shapes-judge", "shapes-oracle"))
    spec = EvalSpec(suite=str(eval_files["suite"]), configs=[str(oracle)], out=tmp_path / "o", metrics=["shapes"])
    with pytest.warns(UserWarning, match="metric 'shapes' is not held out from config 'oracle'"):
        prepare(spec)


def test_kill_9_half_way_then_rerun_completes_with_exactly_8_rows(eval_files, tmp_path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "f2g_core.cli", *eval_args(eval_files, out, "--no-report")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    database = out / "results.sqlite"
    done = 0
    deadline = time.monotonic() + 300  # the third row: generous, a busy 2-core machine missed 120 s
    while time.monotonic() < deadline and process.poll() is None:
        if database.exists():
            try:
                with sqlite3.connect(database, timeout=1) as db:
                    done = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
            except sqlite3.OperationalError:
                done = 0
            if done >= 3:
                break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL and 3 <= done < 8, process.stderr.read() if process.stderr else ""
    with sqlite3.connect(database) as db:
        kept = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    assert 3 <= kept < 8
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert f"({8 - kept} videos generated now, 0 stored videos scored)" in finished.stdout
    rows = read_csv(out / "results.csv")
    keys = [(r["item_id"], r["seed"], r["config_hash"]) for r in rows]
    assert len(rows) == 8 and len(set(keys)) == 8
    assert all(r["shapes.overall"] in ("0.0", "1.0") for r in rows)  # no half-written rows
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 8
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_failing_job_is_reported_and_the_others_are_kept(eval_files, tmp_path, capsys) -> None:
    eval_files["suite"].write_text("a red circle moving left\na purple elephant dancing\n")
    out = tmp_path / "out"
    assert run_cli([*eval_args(eval_files, out), "--seeds", "0"]) == 1
    err = capsys.readouterr().err
    assert "2 job(s) failed (first: item" in err and "finished jobs are kept" in err
    rows = read_csv(out / "results.csv")
    assert [r["prompt"] for r in rows] == ["a red circle moving left"] * 2
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM failures").fetchone()[0] == 2


def test_missing_optional_dependency_is_named_before_any_video(eval_files, tmp_path, monkeypatch) -> None:
    import importlib.util

    from f2g_core.errors import ConfigError

    from f2g_eval.runner import EvalSpec, prepare

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    spec = EvalSpec(suite=str(eval_files["suite"]), configs=[str(eval_files["base"])], out=tmp_path, engine="ray")
    with pytest.raises(
        ConfigError, match=r"--engine ray needs ray, which is not installed: pip install 'f2g-eval\[ray\]'"
    ):
        prepare(spec)


def test_any_reward_serves_as_a_metric_and_is_checked_for_being_held_out(eval_files, tmp_path) -> None:
    from f2g_eval.runner import EvalSpec, run_eval

    eval_files["suite"].write_text("a red circle moving left\n")
    spec = EvalSpec(
        suite=str(eval_files["suite"]), configs=[str(eval_files["base"]), str(eval_files["guided"])],
        out=tmp_path / "o", metrics=["shapes-judge"], report=False,
    )  # fmt: skip
    with pytest.warns(UserWarning, match="metric 'shapes-judge' is not held out from config 'guided'"):
        outcome = run_eval(spec)
    values = [row.metrics["shapes-judge"] for row in outcome.rows]
    assert len(values) == 2 and all(v is not None and 1.0 <= v <= 9.0 for v in values)  # the judge's 1–9 rating
