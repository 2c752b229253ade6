"""``f2g eval`` against broken plugins, hostile suites and careless flags: it ends (never hangs), keeps every
finished video, writes nothing outside ``--out``, and says what is wrong in one line with the documented exit code.

Hang tests run the command in a thread that must return within seconds. They use the core's analytic backbone
(no plugin needed), except where a plugin is the point (the openai reward, the shapes world's Ctrl-C timing).
"""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from f2g_core.evaluation import Metric, SuiteItem

from f2g_eval import metrics as metrics_module

from .conftest import read_csv, run_cli

HANG = 300.0
"""Seconds after which a run that has not returned counts as hung (a healthy one takes a few)."""


def finishes(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``, failing the test if it has not returned within :data:`HANG` seconds."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = function(*args)
        except BaseException as error:  # re-raised in the test's thread
            result["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG)
    assert not thread.is_alive(), f"hung: still running after {HANG:.0f} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


def core_eval(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["eval", str(files["suite"]), "-c", str(files["core"]), "--out", str(out), "--no-report", *extra]


def failures(out: Path) -> list[tuple[str, int, str, str]]:
    with sqlite3.connect(out / "results.sqlite") as db:
        return list(db.execute("SELECT item_id, seed, config_hash, error FROM failures"))


# ------------------------------------------------------------------------------------------ test metrics


class Constant(Metric):
    """0.5 for every video."""

    name = "constant"

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        return {"constant": 0.5}


class LoadFails(Constant):
    name = "load-fails"

    def load(self) -> None:
        raise RuntimeError("its weights are missing")


class Exits(Constant):
    name = "exits"

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        raise SystemExit(3)


class Raises(Constant):
    name = "raises"

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        raise ValueError("cannot score this")


class Odd(Metric):
    """One dimension per kind of wrong value: a string, infinity, NaN, and one that does not apply."""

    name = "odd"
    dimensions = ("text", "infinite", "nan", "none")

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        return {"text": "high", "infinite": math.inf, "nan": math.nan, "none": None}  # type: ignore[dict-item]


class NotAMapping(Constant):
    name = "list"

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        return [0.5]  # type: ignore[return-value]


@pytest.fixture
def test_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """The metrics above, registered as a plugin would."""
    found = {cls.name: cls for cls in (Constant, LoadFails, Exits, Raises, Odd, NotAMapping)}
    monkeypatch.setattr(metrics_module, "registered_metrics", lambda: found)


# ------------------------------------------------------------------------------------------ engines end


def test_a_pipeline_that_does_not_load_fails_each_of_its_jobs_once(core_files, tmp_path, monkeypatch, capsys) -> None:
    from f2g_core.gaussian_mixture import GaussianMixtureBackbone

    def broken(self: Any) -> None:
        raise RuntimeError("checkpoint not found")

    monkeypatch.setattr(GaussianMixtureBackbone, "load", broken)
    out = tmp_path / "out"
    assert finishes(run_cli, core_eval(core_files, out, "--seeds", "0-1", "--workers", "2")) == 1
    err = capsys.readouterr().err
    assert "4 job(s) failed" in err and "config 'core' did not load" in err and "checkpoint not found" in err
    recorded = failures(out)
    assert len(recorded) == 4 and len({row[:3] for row in recorded}) == 4  # every job, each once


@pytest.mark.parametrize("batch", ["1", "2"])
def test_a_job_that_fails_mid_run_keeps_its_trace_so_far(core_files, tmp_path, monkeypatch, capsys, batch) -> None:
    from f2g_core.gaussian_mixture import GaussianMixtureBackbone

    denoise = GaussianMixtureBackbone.denoise

    def fails_at_level_2(self: Any, latents: Any, level: Any, cond: Any) -> Any:
        if level.index == 2:
            raise RuntimeError("the model ran out of memory")
        return denoise(self, latents, level, cond)

    monkeypatch.setattr(GaussianMixtureBackbone, "denoise", fails_at_level_2)
    out = tmp_path / "out"
    assert finishes(run_cli, core_eval(core_files, out, "--seeds", "0", "--batch", batch)) == 1
    assert "2 job(s) failed" in capsys.readouterr().err
    recorded = failures(out)
    assert len(recorded) == 2
    for item_id, seed, _, error in recorded:
        assert "the model ran out of memory" in error and "its trace up to the failing step is in runs/core/" in error
        kept = out / error.rpartition(" is in ")[2].rstrip(")")
        assert kept.name.endswith("-failed") and kept.parent.name == item_id
        trace = json.loads((kept / "trace.json").read_text())
        assert f"seed: {seed}" in (kept / "config.yaml").read_text().splitlines()
        assert trace["failure"]["step"] == 2 and trace["totals"]["model_calls"] == 3  # levels 0, 1 and the failed call
    # one kept trace per job: a failed batch is re-run job by job, and only those runs' traces are kept
    assert len(list((out / "runs").rglob("*-failed"))) == 2


def test_a_worker_thread_that_dies_does_not_leave_the_run_waiting(core_files, tmp_path, monkeypatch, capsys) -> None:
    from f2g_eval import jobs

    def dies(self: Any, *args: Any) -> None:
        raise MemoryError("no memory for a worker")

    monkeypatch.setattr(jobs.Worker, "__init__", dies)
    out = tmp_path / "out"
    assert finishes(run_cli, core_eval(core_files, out, "--seeds", "0-1", "--workers", "2")) == 1
    assert "its eval worker thread ended without reporting it" in capsys.readouterr().err
    assert len(failures(out)) == 4


def test_a_metric_whose_load_raises_stops_the_run(core_files, tmp_path, test_metrics, capsys) -> None:
    out = tmp_path / "out"
    assert finishes(run_cli, core_eval(core_files, out, "--metric", "load-fails", "--workers", "2")) == 1
    err = capsys.readouterr().err
    assert "the eval stopped: metric 'load-fails' did not load: RuntimeError: its weights are missing" in err
    assert len(failures(out)) == 2 and "unexpected" not in err


def test_a_metric_raising_systemexit_fails_only_its_value_and_the_video_is_kept(
    core_files, tmp_path, test_metrics, capsys
) -> None:
    out = tmp_path / "out"
    code = finishes(run_cli, core_eval(core_files, out, "--metric", "exits", "--metric", "constant"))
    assert code == 0, capsys.readouterr().err
    rows = read_csv(out / "results.csv")
    assert len(rows) == 2 and all(r["exits"] == "nan" and r["constant"] == "0.5" for r in rows)
    assert all((out / r["run_dir"] / "video.gif").is_file() for r in rows)
    with sqlite3.connect(out / "results.sqlite") as db:
        events = [json.loads(e) for (e,) in db.execute("SELECT events FROM results")]
    assert all("metric 'exits' failed: SystemExit: 3" in e for e in events)
    assert "2 metric value(s) failed" in capsys.readouterr().out


def test_max_concurrency_0_is_refused_when_parsing(core_files, tmp_path, capsys) -> None:
    assert run_cli(core_eval(core_files, tmp_path / "out", "--max-concurrency", "0")) == 2
    assert "--max-concurrency" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_an_openai_config_without_a_key_exits_2_naming_the_variable(tmp_path, monkeypatch, capsys, shapes) -> None:
    pytest.importorskip("f2g_plugin_openai", reason="the openai reward (f2g-plugin-openai)")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("F2G_KEYS_FILE", str(tmp_path / "no-keys.json"))
    suite, config = tmp_path / "suite.txt", tmp_path / "judge.yaml"
    suite.write_text("a red circle moving left\na blue square\n")
    config.write_text(
        "backbone: {type: shapes}\nrewards: [{type: openai}]\nsampler: {num_steps: 8}\n"
        "guidance: {method: free2guide, options: {num_candidates: 2, num_guided_steps: 1}}\noutput: {formats: [gif]}\n"
    )
    args = ["eval", str(suite), "-c", str(config), "--seeds", "0-3", "--workers", "2", "--out", str(tmp_path / "o")]
    assert finishes(run_cli, [*args, "--no-report"]) == 2
    err = capsys.readouterr().err
    assert "the eval stopped: config 'judge' did not load: no API key for openai" in err and "OPENAI_API_KEY" in err


# ------------------------------------------------------------------------------------------ paths stay inside


def test_hostile_item_ids_and_dimensions_stay_inside_out(core_files, tmp_path) -> None:
    out = tmp_path / "out"
    suite = tmp_path / "hostile.jsonl"
    items = [
        {"prompt": "a red circle", "id": str(tmp_path / "abs-escape"), "dimension": str(tmp_path / "dim-escape")},
        {"prompt": "a blue square", "id": "../../../rel-escape", "dimension": "../../../dim-rel"},
        {"prompt": "a green dot", "id": "..", "dimension": ".."},
    ]
    suite.write_text("".join(json.dumps(item) + "\n" for item in items))
    before = set(tmp_path.iterdir())
    args = ["eval", str(suite), "-c", str(core_files["core"]), "--out", str(out), "--export", "vbench"]
    assert run_cli([*args, "--no-report"]) == 0
    assert set(tmp_path.iterdir()) == before | {out}  # nothing beside out, nothing above it
    assert not (tmp_path.parent / "rel-escape").exists() and not (tmp_path.parent / "dim-rel").exists()
    rows = read_csv(out / "results.csv")
    assert {r["item_id"] for r in rows} == {i["id"] for i in items}  # the store keeps the ids as given
    for r in rows:
        assert (out / r["run_dir"]).resolve().is_relative_to(out / "runs" / "core")
    exported = list((out / "vbench").rglob("*.mp4"))
    assert len(exported) == 3 and all(p.resolve().is_relative_to(out / "vbench" / "core") for p in exported)


@pytest.mark.parametrize(("ref", "name"), [("../../x={}", "../../x"), ("={}", ""), ("a/b={}", "a/b"), ("..={}", "..")])
def test_config_names_that_are_not_folder_names_are_refused(core_files, tmp_path, capsys, ref, name) -> None:
    out = tmp_path / "out"
    args = ["eval", str(core_files["suite"]), "-c", ref.format(core_files["core"]), "--out", str(out)]
    assert run_cli(args) == 2
    err = capsys.readouterr().err
    assert f"the config name {name!r} cannot be a folder name under --out" in err and "-c NAME=FILE" in err
    assert not out.exists()


# ------------------------------------------------------------------------------------------ no lost videos


def test_metrics_that_raise_or_return_wrong_values_fail_only_those_values(core_files, tmp_path, test_metrics) -> None:
    from f2g_eval.runner import EvalSpec, run_eval

    spec = EvalSpec(
        suite=str(core_files["suite"]), configs=[str(core_files["core"])], out=tmp_path / "out",
        metrics=["raises", "odd", "list", "constant"], report=False,
    )  # fmt: skip
    outcome = finishes(run_eval, spec)
    assert len(outcome.rows) == 2 and not outcome.failures
    for row in outcome.rows:
        assert (tmp_path / "out" / row.run_dir / "video.gif").is_file()  # saved although metrics failed
        values = row.metrics
        assert values["constant"] == 0.5 and values["odd.none"] is None  # None: does not apply
        for column in ("raises", "odd.text", "odd.infinite", "odd.nan", "list"):
            assert math.isnan(values[column]), column  # NaN: failed, not "does not apply"
        notes = "\n".join(row.events)
        assert "metric 'raises' failed: ValueError: cannot score this" in notes
        assert "metric 'odd' (text) failed: it returned str 'high', not a number" in notes
        assert "metric 'odd' (infinite) failed: it returned inf, not a finite number" in notes
        assert "metric 'odd' (nan) failed: it returned nan, not a finite number" in notes
        assert "metric 'list' failed: TypeError: measure() returned list" in notes
    csv_rows = read_csv(tmp_path / "out" / "results.csv")
    assert {r["odd.nan"] for r in csv_rows} == {"nan"} and {r["odd.none"] for r in csv_rows} == {""}
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "Failed metric values" in summary and "core: 10" in summary


# ------------------------------------------------------------------------------------------ seeds


@pytest.mark.parametrize("seeds", ["9223372036854775808", "0,9223372036854775808", "-1"])
def test_seeds_out_of_range_are_refused_before_any_video(core_files, tmp_path, capsys, seeds) -> None:
    out = tmp_path / "out"
    assert run_cli(core_eval(core_files, out, f"--seeds={seeds}")) == 2
    assert "9223372036854775807" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("seeds", ["0-9223372036854775807", "0-99999,100000", "5-3", "3-3,3"])
def test_seed_lists_that_are_typos_are_refused_at_once(core_files, tmp_path, capsys, seeds) -> None:
    out = tmp_path / "out"
    assert finishes(run_cli, core_eval(core_files, out, f"--seeds={seeds}")) == 2  # not a list filling the memory
    err = capsys.readouterr().err
    assert f"--seeds {seeds!r}" in err and ("100000" in err or "distinct seeds" in err) and not out.exists()


def test_a_suite_seed_plus_seeds_over_the_range_is_refused_naming_the_item(core_files, tmp_path, capsys) -> None:
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({"prompt": "a red circle", "id": "big", "seed": 2**63 - 1}) + "\n")
    args = ["eval", str(suite), "-c", str(core_files["core"]), "--seeds", "0-1", "--out", str(tmp_path / "out")]
    assert run_cli(args) == 2
    assert "item 'big': its seed 9223372036854775807 plus --seeds up to 1 is over" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ one clear line


def test_a_read_only_out_is_named(core_files, tmp_path, capsys, monkeypatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: make the probe fail as a read-only folder would
        import tempfile

        def read_only(*args: Any, **kwargs: Any) -> Any:
            raise PermissionError(errno.EROFS, "Read-only file system")

        monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    else:
        out.chmod(0o500)
    try:
        assert run_cli(core_eval(core_files, out)) == 2
    finally:
        out.chmod(0o700)
    err = capsys.readouterr().err
    assert f"--out: cannot write run directories into {str(out)!r}" in err and "unexpected" not in err


def test_disk_full_names_the_rescued_video(core_files, tmp_path, monkeypatch, capsys) -> None:
    """The video file cannot be written (ENOSPC) and then the store is full too: the one line still says where
    the rescued frames are."""
    import f2g_core.outputs

    from f2g_eval import store

    def no_space(path: Path, video: np.ndarray, fps: int) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    original = store.Store.__init__

    def full(self: store.Store, path: Path) -> None:  # every write to the store fails as on a full disk
        original(self, path)
        for table in ("videos", "failures"):
            self.db.execute(
                f"CREATE TEMP TRIGGER full_{table} BEFORE INSERT ON main.{table} "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )

    monkeypatch.setattr(f2g_core.outputs, "write_video", no_space)
    monkeypatch.setattr(store.Store, "__init__", full)
    assert finishes(run_cli, core_eval(core_files, tmp_path / "out")) == 1
    err = capsys.readouterr().err
    assert "unexpected" not in err and "database or disk is full" in err and "free space" in err
    rescued = Path(err.split("the video is kept in ", 1)[1].split(" (numpy.load it)")[0])
    assert rescued.name == "video.npy" and np.load(rescued).ndim == 4


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_results_store_is_named_with_the_fix(core_files, tmp_path, capsys, damage) -> None:
    out = tmp_path / "out"
    assert run_cli(core_eval(core_files, out, "--seeds", "0-9")) == 0
    database = out / "results.sqlite"
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = database.read_bytes()
    database.write_bytes(b"not a database at all, " * 100 if damage == "garbage" else data[: len(data) // 3])
    capsys.readouterr()
    code = run_cli(core_eval(core_files, out, "--seeds", "0-9"))
    err = capsys.readouterr().err
    assert code == 1 and f"results store {database}" in err and "is damaged" in err, err
    assert f"mv {database} {database}.broken" in err and "unexpected" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(128, 256)) * 4, "is not UTF-8 text"),
        ("a red circle\n".encode("utf-16"), "is UTF-16 text; save it as UTF-8"),
        (b'{"prompt": "a red circle", "id": "a\\u0000b"}\n', "the id contains a NUL character"),
        (b"a red\x00 circle\n", "the prompt contains a NUL character"),
    ],
)
def test_suites_that_are_not_text_are_refused_naming_the_file(core_files, tmp_path, capsys, content, message):
    suite = tmp_path / ("s.jsonl" if content.startswith(b"{") else "s.txt")
    suite.write_bytes(content)
    args = ["eval", str(suite), "-c", str(core_files["core"]), "--out", str(tmp_path / "out")]
    assert run_cli(args) == 2
    err = capsys.readouterr().err
    assert message in err and str(suite) in err and "unexpected" not in err


def test_vbench_export_of_a_config_without_video_is_refused_before_any_job(core_files, tmp_path, capsys) -> None:
    core_files["core"].write_text(core_files["core"].read_text().replace("[gif]", "[]"))
    out = tmp_path / "out"
    assert run_cli(core_eval(core_files, out, "--export", "vbench")) == 2
    # every run config must write a video file now (output.formats needs one): refused when the config loads
    assert "output.formats: List should have at least 1 item" in capsys.readouterr().err
    assert not (out / "results.sqlite").exists()


# ------------------------------------------------------------------------------------------ budgets


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--max-cost-usd", "-1"), ("--max-cost-usd", "nan"), ("--max-cost-usd", "inf"), ("--max-calls", "-5")],
)
def test_budgets_that_are_no_budget_are_refused(core_files, tmp_path, capsys, flag, value) -> None:
    out = tmp_path / "out"
    assert run_cli(core_eval(core_files, out, f"{flag}={value}")) == 2
    assert flag in capsys.readouterr().err and not (out / "results.sqlite").exists()


def test_budgets_are_checked_in_the_python_api_too(core_files, tmp_path) -> None:
    from f2g_core.errors import ConfigError

    from f2g_eval.runner import EvalSpec, prepare

    spec = EvalSpec(suite=str(core_files["suite"]), configs=[str(core_files["core"])], out=tmp_path, max_cost_usd=-1)
    with pytest.raises(ConfigError, match=r"--max-cost-usd -1: give an amount in USD >= 0"):
        prepare(spec)


def test_a_rejected_api_key_stops_the_run_once(tmp_path, monkeypatch, capsys, shapes) -> None:
    pytest.importorskip("f2g_plugin_openai", reason="the openai reward (f2g-plugin-openai)")
    from f2g_lvlm.fake_server import FakeLVLMServer, error_reply

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-rejected")
    with FakeLVLMServer(responder=lambda request: error_reply(401, message="invalid api key")) as server:
        suite, config = tmp_path / "suite.txt", tmp_path / "judge.yaml"
        suite.write_text("a red circle moving left\na blue square\n")
        options = {"base_url": server.openai_base_url, "model": "fake", "cache": False}
        config.write_text(
            "backbone: {type: shapes}\nsampler: {num_steps: 8}\noutput: {formats: [gif]}\n"
            f"rewards: [{{type: openai, options: {json.dumps(options)}}}]\n"
            "guidance: {method: free2guide, options: {num_candidates: 5, num_guided_steps: 2}}\n"
        )
        args = ["eval", str(suite), "-c", str(config), "--seeds", "0-3", "--out", str(tmp_path / "o"), "--no-report"]
        assert finishes(run_cli, args) == 1
        assert server.request_count <= 5  # one step's candidates, not 8 jobs × 5
    err = capsys.readouterr().err
    assert "the eval stopped" in err and "rejected the API key (HTTP 401)" in err and "OPENAI_API_KEY" in err


# ------------------------------------------------------------------------------------------ Ctrl-C


@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_exits_130_and_keeps_what_finished(tmp_path, shapes, attempt) -> None:
    """SIGINT to a real ``f2g eval`` while two worker threads are sampling (the shapes world: each job takes long
    enough for the signal to land inside torch)."""
    suite, config, out = tmp_path / "suite.txt", tmp_path / "base.yaml", tmp_path / "out"
    suite.write_text("a red circle moving left\na blue square moving up\n")
    config.write_text(
        "backbone: {type: shapes}\nsampler: {num_steps: 20}\nguidance: {method: none}\noutput: {formats: [gif]}\n"
    )
    command = [sys.executable, "-m", "f2g_core.cli", "eval", str(suite), "-c", str(config), "--out", str(out)]
    process = subprocess.Popen(
        [*command, "--seeds", "0-39", "--workers", "2", "--no-report"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    database, seen, deadline = out / "results.sqlite", 0, time.monotonic() + HANG
    while time.monotonic() < deadline and process.poll() is None and seen < 1 + attempt:
        if database.exists():
            try:
                with sqlite3.connect(database, timeout=1) as db:
                    seen = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
            except sqlite3.OperationalError:
                seen = 0
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=HANG)
    finally:
        process.kill()
    assert process.returncode == 130 and "interrupted" in err and "terminate called" not in err, err
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] >= seen >= 1
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
