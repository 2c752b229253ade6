"""``f2g serve reward`` and the ``remote`` reward: remote scores equal in-process ones, a run guided through a
server (in this venv, and from a second venv holding a library version the first cannot) equals the in-process
run, and a server that is down, answers garbage, refuses a batch or fails on one gives one clear outcome each."""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import sys
import sysconfig
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from f2g_core.errors import ComponentError
from f2g_core.gaussian_mixture import ModeReward
from f2g_core.interfaces import Reward, RewardBatch, StepInfo
from f2g_core.pipeline import Pipeline
from f2g_core.plugins import default_plugins
from f2g_core.serving.client import RemoteReward
from f2g_core.serving.server import RewardServer
from f2g_core.testing import install_fake_distribution

START = 180.0
"""Seconds a server subprocess may take to import f2g and load (a hang beyond it fails the test)."""


@pytest.fixture
def core_world(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The core's analytic backbone and rewards installed as a plugin, here and (``PYTHONPATH``) in servers."""
    site = tmp_path_factory.mktemp("core-world")
    (site / "f2g_serve_core_world.py").write_text(
        "from f2g_core.gaussian_mixture import register_backbones, register_rewards  # noqa: F401\n"
    )
    install_fake_distribution(site, "f2g-serve-core-world", "0.1", "serve-core-world = f2g_serve_core_world")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    default_plugins.cache_clear()
    yield site
    default_plugins.cache_clear()


def batch(prompt: str = "a cat", count: int = 3) -> RewardBatch:
    frames = np.random.default_rng(0).random((count, 2, 4, 4, 3), dtype=np.float32)
    return RewardBatch(prompt, frames, (0, 3), 4, StepInfo(1, 4, 500.0), fps=8.0)


def remote(url: str, **options: Any) -> RemoteReward:
    return RemoteReward(RemoteReward.Options(url=url, backoff_s=0.0, **options))


class Flaky(Reward):
    """Fails on prompts saying "broken"; refuses four key frames."""

    name = "flaky"

    def score(self, batch: RewardBatch) -> list[float]:
        if "broken" in batch.prompt:
            raise RuntimeError("cannot score this")
        return [float("nan"), *[1.0] * (len(batch) - 1)]

    def check_key_frames(self, frame_indices: Any, num_frames: int) -> None:
        if len(frame_indices) == 4:
            raise ValueError("four key frames are too many")


def test_remote_scores_equal_the_rewards_own() -> None:
    local = ModeReward(ModeReward.Options(target=[0.3, 0.7]))
    with RewardServer(ModeReward(ModeReward.Options(target=[0.3, 0.7]))) as server:
        client = remote(server.url)
        client.load()
        assert client.server["reward"] == "mode-distance" and client.server["options"] == {"target": [0.3, 0.7]}
        for prompt in ("a", "b"):
            assert list(client.score(batch(prompt))) == list(local.score(batch(prompt)))
        assert client.usage()["calls"] == 2
        assert client.trace_info()["server_reward"] == "mode-distance"


def test_a_rewards_failure_fails_its_batch_and_its_checks_come_through() -> None:
    with RewardServer(Flaky()) as server:
        client = remote(server.url)
        scores = client.score(batch())
        assert np.isnan(scores[0]) and list(scores[1:]) == [1.0, 1.0]
        with pytest.raises(RuntimeError, match="reward 'flaky' failed: RuntimeError: cannot score this"):
            client.score(batch("broken"))
        client.check_key_frames([0, 1], 4)
        with pytest.raises(ValueError, match="four key frames are too many"):
            client.check_key_frames([0, 1, 2, 3], 4)


def test_the_server_refuses_a_malformed_request_with_its_reason() -> None:
    with RewardServer(Flaky()) as server:
        body = json.dumps({"protocol": 1, "prompt": "x"}).encode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(server.url + "/score", data=body), timeout=10)
        assert refused.value.code == 400
        assert "malformed batch: KeyError" in json.loads(refused.value.read())["error"]
        health = json.loads(urllib.request.urlopen(server.url + "/health", timeout=10).read())
        assert health["status"] == "ok" and health["prefix"] == sys.prefix


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_server_that_is_down_is_one_error_naming_the_url_and_the_fix() -> None:
    port = free_port()
    client = remote(f"http://127.0.0.1:{port}", retries=2)
    with pytest.raises(ComponentError) as error:
        client.load()
    message = str(error.value)
    assert f"no f2g reward server answers at http://127.0.0.1:{port}" in message
    assert "3 tries" in message and f"f2g serve reward REWARD --port {port}" in message
    assert client.usage()["retries"] == 2


class Garbage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: Any) -> None:
        pass


def test_a_server_answering_garbage_is_named_as_not_an_f2g_server() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        with pytest.raises(ComponentError, match=re.escape(f"{url} answered a body that is not JSON")):
            remote(url).load()
    finally:
        httpd.shutdown()
        httpd.server_close()


GUIDED = {
    "backbone": {"type": "gaussian-mixture"},
    "sampler": {"num_steps": 4},
    "guidance": {"method": "free2guide", "options": {"num_candidates": 3, "num_guided_steps": 2}},
    "output": {"formats": ["gif"]},
}


def guided_run(reward: dict[str, Any]) -> tuple[np.ndarray, list[Any]]:
    """The video and every step's scores of one run guided by ``reward``."""
    pipeline = Pipeline.from_config({**GUIDED, "rewards": [reward]})
    try:
        result = pipeline.generate("a point near the mode", seed=3)
    finally:
        pipeline.close()
    return result.video, [(s.combined, s.chosen) for s in result.trace.steps if s.combined]


@contextmanager
def serving(python: str, reward_id: str, env: dict[str, str], *args: str) -> Iterator[str]:
    """``f2g serve reward`` run by ``python`` on a free port; yields its url once it says it is ready."""
    command = [python, "-m", "f2g_core.cli", "serve", "reward", reward_id, "--port", "0", *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()], daemon=True).start()
    try:
        seen = []
        while True:
            try:
                line = lines.get(timeout=START)
            except queue.Empty:
                pytest.fail(f"the server did not say it was ready within {START}s: {seen}")
            seen.append(line)
            found = re.search(r"at (http://127\.0\.0\.1:\d+)", line)
            if found:
                yield found.group(1)
                return
            if process.poll() is not None and lines.empty():
                pytest.fail(f"the server ended: {''.join(seen)}")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_run_guided_through_a_served_reward_equals_the_in_process_run(core_world: Path) -> None:
    with serving(sys.executable, "mode-distance", dict(os.environ)) as url:
        served = guided_run({"type": "remote", "options": {"url": url}})
    assert len(served[1]) == 2
    local = guided_run({"type": "mode-distance"})
    np.testing.assert_array_equal(served[0], local[0])
    assert served[1] == local[1]


PINNED_LIB = 'VERSION = "{version}"\n'
PINNED_REWARD = """\
import importlib.metadata

from f2g_core.gaussian_mixture import ModeReward
from f2g_core.hookspecs import hookimpl


class Pinned(ModeReward):
    \"\"\"mode-distance that, like a reward pinning an old transformers, loads only with pinnedlib 1.x.\"\"\"

    name = "pinned"

    def load(self):
        version = importlib.metadata.version("pinnedlib")
        if not version.startswith("1."):
            raise RuntimeError(f"needs pinnedlib 1.x, found {version}")

    def trace_info(self):
        return {"pinnedlib": importlib.metadata.version("pinnedlib")}


@hookimpl
def register_rewards(register):
    register(Pinned)
"""


def install_pinnedlib(site: Path, version: str) -> None:
    (site / "pinnedlib.py").write_text(PINNED_LIB.format(version=version))
    dist = site / f"pinnedlib-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: pinnedlib\nVersion: {version}\n")


def second_venv(root: Path, first_site: str) -> tuple[str, Path]:
    """A venv of its own (own prefix, own site-packages) made without network: its site-packages hold what the
    first venv must not (here pinnedlib 1.0 and the reward needing it) and, after them, the first venv's
    site-packages (a .pth line running ``site.addsitedir``) for f2g and its dependencies."""
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)  # type: ignore[attr-defined]
    python = str(root / "bin" / "python")
    site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip())  # fmt: skip
    (site / "zz_first_venv.pth").write_text(f"import site; site.addsitedir({first_site!r})\n")
    return python, site


def test_a_reward_in_a_second_venv_guides_a_run_in_the_first(
    core_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "first"  # the run's environment has pinnedlib 2.0, which the reward refuses
    here.mkdir()
    install_pinnedlib(here, "2.0")
    monkeypatch.syspath_prepend(str(here))
    python, site = second_venv(tmp_path / "venv2", sysconfig.get_path("purelib"))
    install_pinnedlib(site, "1.0")
    (site / "f2g_pinned_reward.py").write_text(PINNED_REWARD)
    install_fake_distribution(site, "f2g-pinned-reward", "0.1", "pinned = f2g_pinned_reward")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    default_plugins.cache_clear()
    assert "pinned" not in default_plugins().registry.names("reward")  # not installable here
    with serving(python, "pinned", env) as url:
        client = remote(url)
        client.load()
        assert Path(client.server["prefix"]).resolve() == (tmp_path / "venv2").resolve()
        assert client.trace_info()["server_trace_info"] == {"pinnedlib": "1.0"}
        served = guided_run({"type": "remote", "options": {"url": url}})
    local = guided_run({"type": "mode-distance"})  # the same rule in-process: the same run
    np.testing.assert_array_equal(served[0], local[0])
    assert served[1] == local[1]


class Gate(BaseHTTPRequestHandler):
    """Answers /score only once three requests are in flight at the same time (a hang if sent one by one)."""

    barrier = threading.Barrier(3, timeout=60)

    def do_POST(self) -> None:
        count = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["frames"]["shape"][0]
        self.barrier.wait()
        body = json.dumps({"scores": [1.0] * count}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_shared_remote_reward_sends_waiting_batches_at_once() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Gate)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        client = remote(f"http://127.0.0.1:{httpd.server_address[1]}")
        client.server = {"status": "ok"}  # loaded: this test is about /score alone
        assert [list(s) for s in client.score_many([batch(str(i), 2) for i in range(3)])] == [[1.0, 1.0]] * 3
    finally:
        httpd.shutdown()
        httpd.server_close()
