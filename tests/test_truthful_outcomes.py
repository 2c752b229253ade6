"""A run in which no step's selection used a valid score does not report itself as guided (issue 11, item 2)."""

import http.server
import importlib.util
import json
import math
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from f2g_core.errors import ConfigError
from f2g_core.interfaces import Reward, RewardBatch
from f2g_core.pipeline import Pipeline, generate
from f2g_core.registry import Registry
from f2g_core.testing import install_fake_distribution

F2G = Callable[..., subprocess.CompletedProcess[str]]
"""``f2g_in_process`` (tests/conftest.py): the command run in this process."""
HAS_OPENAI = importlib.util.find_spec("f2g_plugin_openai") is not None


class Failing(Reward):
    """Raises at every call, like a reward whose server is down."""

    name = "always-failing"

    def score(self, batch: RewardBatch) -> list[float]:
        raise RuntimeError("server unavailable")


class FourFramesOnly(Reward):
    """Rates 2×2 grids: needs exactly four key frames."""

    name = "four-frames"

    def check_key_frames(self, frame_indices: Any, num_frames: int) -> None:
        if len(frame_indices) != 4:
            raise ValueError(f"needs 4 key frames, got {len(frame_indices)}")

    def score(self, batch: RewardBatch) -> list[float]:
        return [0.0] * len(batch)


@pytest.fixture
def registry(f2g_registry: Registry) -> Registry:
    f2g_registry.add("reward", Failing, plugin="test")
    f2g_registry.add("reward", FourFramesOnly, plugin="test")
    return f2g_registry


def test_totals_count_only_steps_a_valid_score_decided(registry: Registry, gmm_config: dict[str, Any]) -> None:
    gmm_config["rewards"] = [{"type": "always-failing"}]
    with pytest.warns(UserWarning, match="server unavailable"):
        totals = generate(gmm_config, save=False, registry=registry).trace.totals()
    assert totals["planned_guided_steps"] == 6 and totals["guided_steps"] == 0
    gmm_config["rewards"] = [{"type": "mode-distance"}]
    totals = generate(gmm_config, save=False, registry=registry).trace.totals()
    assert totals["planned_guided_steps"] == totals["guided_steps"] == 6


def test_rewards_check_their_key_frames_before_anything_loads(registry: Registry, gmm_config: dict[str, Any]) -> None:
    gmm_config["rewards"] = [{"type": "four-frames"}]
    gmm_config["guidance"]["key_frames"] = [0, 3]
    pipeline = Pipeline.from_config(gmm_config, registry=registry)
    with pytest.raises(ConfigError, match=r"reward 'four-frames' \(rewards\[0\]\) cannot score frames \[0, 3\]"):
        pipeline.generate()
    assert not pipeline._loaded


# --------------------------------------------------------------------------------------------------- the CLI

PLUGIN = """
from f2g_core.gaussian_mixture import ModeReward, register_backbones  # noqa: F401
from f2g_core.hookspecs import hookimpl
from f2g_core.interfaces import Reward


class Failing(Reward):
    name = "always-failing"

    def score(self, batch):
        raise RuntimeError("server unavailable")


class FourFramesOnly(Reward):
    name = "four-frames"

    def check_key_frames(self, frame_indices, num_frames):
        if len(frame_indices) != 4:
            raise ValueError(f"needs 4 key frames, got {len(frame_indices)}")

    def score(self, batch):
        return [0.0] * len(batch)


@hookimpl
def register_rewards(register):
    register(Failing)
    register(FourFramesOnly)
    register(ModeReward)
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "f2g_truthful_plugin.py").write_text(PLUGIN)
    install_fake_distribution(tmp_path, "truthful-test", "0.1", "truthful = f2g_truthful_plugin")
    return tmp_path


def _run(
    f2g: F2G, site: Path, rewards: list[dict[str, Any]], *args: str, plugins: str = "truthful", **guidance: Any
) -> Any:
    data = {
        "prompt": "the upper-right mode",
        "backbone": {"type": "gaussian-mixture", "options": {"frame_size": 8}},
        "rewards": rewards,
        "sampler": {"num_steps": 6},
        "guidance": {"method": "free2guide", "options": {"num_candidates": 2, "num_guided_steps": 2}, **guidance},
        "output": {"dir": str(site / "runs"), "formats": ["gif"]},
    }
    config = site / "run.yaml"
    config.write_text(yaml.safe_dump(data))
    env = {"PYTHONPATH": str(site), "F2G_LOAD_PLUGINS": plugins, "COLUMNS": "250", "OPENAI_BASE_URL": None}
    env.update(OPENAI_API_KEY="sk-test", F2G_LVLM_CACHE_DIR=str(site / "cache"), F2G_KEYS_FILE=str(site / "k.json"))
    return f2g("run", str(config), *args, env=env)


def _trace(site: Path) -> dict[str, Any]:
    (run,) = [p for p in (site / "runs").iterdir() if not p.name.startswith(".")]
    return dict(json.loads((run / "trace.json").read_text()))


def test_a_run_whose_reward_always_fails_exits_3_says_unguided_and_keeps_the_video(
    site: Path, f2g_in_process: F2G
) -> None:
    done = _run(f2g_in_process, site, [{"type": "always-failing"}])
    assert done.returncode == 3, done.stderr
    assert "unguided (0 of 2 guided steps scored)" in done.stdout
    assert "guidance never happened" in done.stderr and "--allow-unguided" in done.stderr
    trace = _trace(site)
    assert trace["totals"]["guided_steps"] == 0 and trace["totals"]["planned_guided_steps"] == 2


def test_allow_unguided_accepts_the_fallback(site: Path, f2g_in_process: F2G) -> None:
    done = _run(f2g_in_process, site, [{"type": "always-failing"}], "--allow-unguided")
    assert done.returncode == 0, done.stderr
    assert "unguided (0 of 2 guided steps scored)" in done.stdout


@pytest.mark.parametrize(
    ("rewards", "guidance", "expected"),
    [
        ([{"type": "mode-distance", "weight": math.nan}], {}, "rewards[0].weight"),
        ([{"type": "mode-distance", "weight": math.inf}], {}, "rewards[0].weight"),
        ([{"type": "mode-distance"}], {"key_frames": [0, 40]}, "out of range for backbone 'gaussian-mixture'"),
        ([{"type": "four-frames"}], {"key_frames": [0, 3]}, "reward 'four-frames' (rewards[0]) cannot score"),
    ],
)
def test_check_rejects_what_the_run_would_reject(
    site: Path, rewards: list[dict[str, Any]], guidance: dict[str, Any], expected: str, f2g_in_process: F2G
) -> None:
    done = _run(f2g_in_process, site, rewards, "--check", **guidance)
    assert done.returncode == 2 and expected in done.stderr and "ok" not in done.stdout, done.stderr


@pytest.mark.skipif(not HAS_OPENAI, reason="needs f2g-plugin-openai")
@pytest.mark.parametrize("url", ["localhost:8000/v1", "ftp://example.com", "http://", "http://host:99999/v1"])
def test_check_rejects_a_malformed_base_url(site: Path, url: str, f2g_in_process: F2G) -> None:
    done = _run(
        f2g_in_process, site, [{"type": "openai", "options": {"base_url": url}}], "--check", plugins="truthful,openai"
    )
    assert done.returncode == 2 and "rewards[0].options.base_url" in done.stderr and "http(s) URL" in done.stderr


class _AlwaysFails(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": {"message": "overloaded"}}')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def failing_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysFails)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.mark.skipif(not HAS_OPENAI, reason="needs f2g-plugin-openai")
def test_a_guided_run_against_a_server_failing_every_call_exits_non_zero(
    site: Path, failing_server: str, f2g_in_process: F2G
) -> None:
    options = {"base_url": failing_server, "max_retries": 0, "cache": False, "timeout": 10}
    done = _run(f2g_in_process, site, [{"type": "openai", "options": options}], plugins="truthful,openai")
    assert done.returncode == 3, done.stderr
    assert _trace(site)["totals"]["guided_steps"] == 0 and "unguided" in done.stdout
