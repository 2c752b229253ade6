"""Hostile and careless use of `f2g generate`, the flags and the Python API (issue 19): every case is one clear
line with the documented exit code, a finished video is never lost, and the same inputs give the same bytes."""

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from f2g_core import outputs
from f2g_core.interfaces import Reward, RewardBatch
from f2g_core.pipeline import Pipeline, generate
from f2g_core.registry import Registry
from f2g_core.testing import install_fake_distribution

F2G = [sys.executable, "-c", "from f2g_core.cli import main; main()"]
ROOT = Path(__file__).resolve().parents[1]
PLUGIN = """
from f2g_core.gaussian_mixture import register_backbones, register_rewards  # noqa: F401
from f2g_core.hookspecs import hookimpl


@hookimpl
def describe_result(prompt, video, config):
    {describe}
"""
EXITS = """
from f2g_core.hookspecs import hookimpl
from f2g_core.interfaces import Reward


class Exits(Reward):
    \"\"\"Calls sys.exit(4) when asked to score.\"\"\"

    name = "exits"

    def score(self, batch):
        raise SystemExit(4)


@hookimpl
def register_rewards(register):
    register(Exits)
"""


def _site(tmp_path: Path, describe: str = "return 'a verdict'") -> Path:
    (tmp_path / "hostile_cli_plugin.py").write_text(PLUGIN.replace("{describe}", describe))
    install_fake_distribution(tmp_path, "hostile-cli", "0.1", "hostile = hostile_cli_plugin")
    (tmp_path / "hostile_exits.py").write_text(EXITS)
    install_fake_distribution(tmp_path, "hostile-exits", "0.1", "exits = hostile_exits")
    config = {
        "prompt": "the upper-right mode",
        "backbone": {"type": "gaussian-mixture", "options": {"frame_size": 8}},
        "rewards": [{"type": "mode-distance"}],
        "sampler": {"num_steps": 6},
        "guidance": {"method": "free2guide", "options": {"num_candidates": 2, "num_guided_steps": 1}},
        "output": {"dir": str(tmp_path / "runs"), "formats": ["gif"]},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def _env(site: Path, **env: str) -> dict[str, str | None]:
    return {"PYTHONPATH": str(site), "F2G_LOAD_PLUGINS": "hostile,exits", "COLUMNS": "250", "F2G_DEBUG": None, **env}


@pytest.fixture
def f2g(f2g_in_process: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., Any]:
    """``f2g(site, *args, **env)``: the command in this process, with the site's test plugins."""
    return lambda site, *args, **env: f2g_in_process(*args, env=_env(site, **env))


def f2g_subprocess(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command, for what only a process shows (a reward's ``sys.exit`` never ends it)."""
    full = {**os.environ, **_env(site), "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    env = {key: value for key, value in full.items() if value is not None}
    return subprocess.run([*F2G, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("raising", ["raise RuntimeError('verdict broke')", "raise SystemExit(3)"])
def test_a_failing_describe_result_never_loses_the_video(tmp_path: Path, raising: str, f2g: Callable[..., Any]) -> None:
    site = _site(tmp_path, raising)
    done = f2g(site, "run", str(site / "run.yaml"))
    assert done.returncode == 0, done.stderr
    runs = list((site / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "video.gif").is_file() and (runs[0] / "trace.json").is_file()
    assert "'hostile' (hostile-cli 0.1): describe_result failed and is skipped" in done.stderr
    assert "wrote" in done.stdout


def test_verdicts_still_print_after_the_run_is_saved(tmp_path: Path, f2g: Callable[..., Any]) -> None:
    done = f2g(_site(tmp_path), "run", str(tmp_path / "run.yaml"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.index("wrote") < done.stdout.index("a verdict")


@pytest.mark.parametrize("debug", [["--debug"], []])
def test_debug_adds_the_traceback_and_keeps_the_exit_code(
    tmp_path: Path, debug: list[str], f2g: Callable[..., Any]
) -> None:
    site = _site(tmp_path)
    env = {} if debug else {"F2G_DEBUG": "1"}
    missing = f2g(site, *debug, "run", str(site / "missing.yaml"), **env)
    assert missing.returncode == 2 and "Traceback" in missing.stderr and "error:" in missing.stderr
    unguided = f2g(site, *debug, "run", str(site / "run.yaml"), "--set", "rewards=[{type: exits}]", **env)
    assert unguided.returncode == 3, unguided.stderr
    assert "Traceback" in unguided.stderr and "guidance never happened" in unguided.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--seeds", "1,1"], "seed(s) 1 given more than once"),
        (["--seeds", "0-3,2"], "seed(s) 2 given more than once"),
        (["--seed", "5", "--seeds", "0-1"], "give --seed or --seeds, not both"),
        (["--seeds", "0-1000000"], "asks for 1000001 videos; one command makes at most 10000"),
        (["--seeds", "0-99999999999999999999"], "seeds must be below 2**63"),
        (["--seeds", "5-2"], "low <= high"),
        (["--out", "o" * 300], "--out: cannot write run directories into"),
        (["--set", "output.formats=[]"], "output.formats"),
    ],
)
def test_bad_generate_flags_are_one_line_with_exit_2(
    tmp_path: Path, flags: list[str], message: str, f2g: Callable[..., Any]
) -> None:
    site = _site(tmp_path)
    done = f2g(site, "generate", "x", "-c", str(site / "run.yaml"), *flags)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "unexpected" not in done.stderr and "Traceback" not in done.stderr
    assert not (site / "runs").exists() or not list((site / "runs").iterdir())


def test_prompts_that_is_a_directory_says_so(tmp_path: Path, f2g: Callable[..., Any]) -> None:
    site = _site(tmp_path)
    done = f2g(site, "generate", "--prompts", str(tmp_path), "-c", str(site / "run.yaml"))
    assert done.returncode == 2 and "is a directory" in done.stderr, done.stderr


def test_prompts_and_seeds_make_one_video_each_saved_in_batches(tmp_path: Path, f2g: Callable[..., Any]) -> None:
    site = _site(tmp_path)
    prompts = site / "prompts.txt"
    prompts.write_text("the upper-right mode\nthe lower-left mode\n")
    done = f2g(site, "generate", "--prompts", str(prompts), "--seeds", "0-4", "-c", str(site / "run.yaml"))
    assert done.returncode == 0, done.stderr
    assert len(list((site / "runs").iterdir())) == 10 and done.stdout.count("wrote") == 10


def test_ctrl_c_inside_the_video_writers_finaliser_still_interrupts_after_a_complete_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = outputs.write_run

    class Finaliser:
        def __del__(self) -> None:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C while the writer's finaliser runs

    def write_run(*args: Any, **kwargs: Any) -> dict[str, Path]:
        written = real(*args, **kwargs)
        Finaliser()
        return written

    monkeypatch.setattr(outputs, "write_run", write_run)
    video = np.random.default_rng(0).random((4, 8, 8, 3)).astype(np.float32)
    with pytest.raises(KeyboardInterrupt):
        outputs.save_run(tmp_path, "p", 0, video, [0, 3], {}, {}, formats=["gif"])
    (run,) = [path for path in tmp_path.iterdir()]
    assert not run.name.startswith(outputs.STAGING_PREFIX)
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "grid.png", "trace.json", "video.gif"]


def test_mp4_bytes_are_the_same_whatever_cpus_the_encoder_may_use(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base = rng.random((1, 256, 256, 3))
    video = np.clip(base + np.linspace(0, 0.5, 16)[:, None, None, None] * rng.random((16, 256, 256, 3)), 0, 1)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    written = [outputs.write_video(tmp_path / "a.mp4", video, 8).read_bytes()]
    written.append(outputs.write_video(tmp_path / "b.mp4", video, 8).read_bytes())
    if len(cpus) > 1:
        try:
            os.sched_setaffinity(0, cpus[:1])  # x264 sizes its thread pool from the CPUs it may use
            written.append(outputs.write_video(tmp_path / "c.mp4", video, 8).read_bytes())
        finally:
            os.sched_setaffinity(0, cpus)
    assert all(data == written[0] for data in written)


# ------------------------------------------------------------------------------------------------- Python API


class Exits(Reward):
    """A reward whose code calls sys.exit(4)."""

    name = "exits"

    def score(self, batch: RewardBatch) -> list[float]:
        raise SystemExit(4)


def test_a_reward_calling_sys_exit_is_a_reward_error(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    f2g_registry.add("reward", Exits, plugin="test")
    gmm_config["rewards"] = [{"type": "exits"}]
    with pytest.warns(UserWarning, match="reward 'exits' failed: SystemExit: 4"):
        result = generate(gmm_config, save=False, registry=f2g_registry)
    assert result.video.size and not result.guided


def test_pipeline_save_names_the_run_result_it_expects(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    pipeline = Pipeline.from_config(gmm_config, registry=f2g_registry)
    with pytest.raises(TypeError, match="expects the RunResult that generate\\(\\) returned, not str"):
        pipeline.save("x")  # type: ignore[arg-type]


def test_generate_many_takes_a_single_string_as_one_prompt(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    pipeline = Pipeline.from_config(gmm_config, registry=f2g_registry)
    results = pipeline.generate_many("the upper-right mode", [0])
    assert [(r.prompt, r.seed) for r in results] == [("the upper-right mode", 0)]
    assert [(r.prompt, r.seed) for r in pipeline.generate_many(["a", "b"], 3)] == [("a", 3), ("b", 3)]


def test_a_reward_calling_sys_exit_from_the_command_line_exits_3_not_4(tmp_path: Path) -> None:
    site = _site(tmp_path)
    done = f2g_subprocess(site, "run", str(site / "run.yaml"), "--set", "rewards=[{type: exits}]")
    assert done.returncode == 3, done.stderr
    assert "reward 'exits' failed: SystemExit: 4" in done.stderr and len(list((site / "runs").iterdir())) == 1
