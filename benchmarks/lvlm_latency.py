"""Reward-call latency of a guided run with a remote LVLM: concurrent candidates versus sequential calls.

The ``openai`` reward talks to the local fake OpenAI-compatible server (f2g_lvlm.fake_server), which adds a
fixed latency to every request, as a remote API does. A Free²Guide run with n candidates and K guided steps makes
n·K calls; scored one after another (the official code) they cost n·K × latency, while f2g overlaps the n calls of
a step, so the reward phase should cost about K × latency. The check: concurrent ≤ 1.3 × K × latency.

    python benchmarks/lvlm_latency.py [--n 10] [--guided 6] [--latency 0.3] [--steps 20] [--backbone gaussian-mixture]

Exits 1 when the bound is missed (``--report-only``: prints the verdict and exits 0, for tests on machines whose
load decides the timing; a crash still exits non-zero). The server runs in its own process
(``python -m f2g_lvlm.fake_server``), as a remote API would, so its work does not compete with the client for the
interpreter; ``--in-process`` runs it in a thread instead. ``--backbone shapes`` uses the shapes world (needs
f2g-plugin-shapes and its weights) instead of the analytic Gaussian mixture; the reward calls are the same either
way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from f2g_lvlm.fake_server import Answer, FakeLVLMServer

from f2g_core.pipeline import Pipeline
from f2g_core.testing import isolated_plugins


class RemoteServer:
    """The fake server in a child process, with the attributes of :class:`FakeLVLMServer` this script reads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.openai_base_url = url + "/v1"

    def _stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.url + "/_fake/stats", timeout=10) as response:
            return dict(json.loads(response.read()))

    @property
    def request_count(self) -> int:
        return self._stats()["requests"]

    @property
    def max_in_flight(self) -> int:
        return self._stats()["max_in_flight"]

    def reset(self) -> None:
        request = urllib.request.Request(self.url + "/_fake/reset", data=b"{}", method="POST")
        urllib.request.urlopen(request, timeout=10).close()


@contextlib.contextmanager
def serve(latency: float, in_process: bool) -> Iterator[Any]:
    """A fake LVLM server adding ``latency`` per request: a child process (default) or a thread."""
    if in_process:
        with FakeLVLMServer(Answer("Answer: 7"), latency=latency) as server:
            yield server
        return
    command = [sys.executable, "-m", "f2g_lvlm.fake_server", "--latency", str(latency), "--answer", "Answer: 7"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"fake server did not start: {line!r}")
        yield RemoteServer(line.removeprefix("listening on "))
    finally:
        child.terminate()
        child.wait(timeout=10)


def run(server: Any, args: argparse.Namespace, concurrency: int) -> tuple[float, float, int]:
    """One guided video; returns (seconds in the reward phase, wall seconds, requests made)."""
    import f2g_plugin_openai.plugin as openai_plugin

    extra: list[tuple[str, Any]] = [("f2g-plugin-openai", openai_plugin)]
    if args.backbone == "shapes":
        import f2g_plugin_shapes.plugin as shapes_plugin

        extra.append(("f2g-plugin-shapes", shapes_plugin))
    config = {
        "prompt": "a red circle moving right",
        "backbone": {"type": args.backbone},
        "rewards": [
            {
                "type": "openai",
                "options": {
                    "base_url": server.openai_base_url,
                    "model": "latency-bench",
                    "max_concurrency": concurrency,
                    "cache": False,
                    "prices": {"latency-bench": {"input": 0.0, "output": 0.0}},
                },
            }
        ],
        "sampler": {"num_steps": args.steps},
        "guidance": {
            "method": "free2guide",
            "options": {"num_candidates": args.n, "start": 0, "num_guided_steps": args.guided},
        },
    }
    before = server.request_count
    registry = isolated_plugins(extra).registry
    with Pipeline.from_config(config, registry=registry) as pipeline:
        pipeline.load()
        start = time.perf_counter()
        result = pipeline.generate()
        wall = time.perf_counter() - start
    reward = sum(step.seconds.get("reward", 0.0) for step in result.trace.steps)
    return reward, wall, server.request_count - before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10, help="candidates per guided step")
    parser.add_argument("--guided", type=int, default=6, help="guided steps K")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds the server adds to each request")
    parser.add_argument("--steps", type=int, default=20, help="sampling steps")
    parser.add_argument("--backbone", default="gaussian-mixture", choices=["gaussian-mixture", "shapes"])
    parser.add_argument("--skip-sequential", action="store_true", help="only measure the concurrent run")
    parser.add_argument("--in-process", action="store_true", help="run the server in a thread of this process")
    parser.add_argument("--report-only", action="store_true", help="exit 0 when the bound is missed (still printed)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENAI_API_KEY", "sk-benchmark")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    with tempfile.TemporaryDirectory() as cache, serve(args.latency, args.in_process) as server:
        os.environ["F2G_LVLM_CACHE_DIR"] = cache
        calls = args.n * args.guided
        ideal = args.guided * args.latency
        print(
            f"n={args.n} candidates, K={args.guided} guided steps, {calls} calls, latency {args.latency * 1000:.0f} ms"
        )
        reward, wall, made = run(server, args, concurrency=args.n)
        print(
            f"concurrent (max_concurrency={args.n}): reward phase {reward:.2f} s = {reward / ideal:.2f} × K×latency "
            f"({ideal:.2f} s); {made} requests, at most {server.max_in_flight} in flight; run {wall:.2f} s"
        )
        if not args.skip_sequential:
            server.reset()
            seq_reward, seq_wall, _ = run(server, args, concurrency=1)
            print(
                f"sequential (max_concurrency=1):  reward phase {seq_reward:.2f} s "
                f"(n·K×latency = {calls * args.latency:.2f} s); at most {server.max_in_flight} in flight; "
                f"run {seq_wall:.2f} s"
            )
            print(f"speed-up of the reward phase: {seq_reward / reward:.1f}×")
        ok = reward <= 1.3 * ideal
        print(f"bound reward ≤ 1.3 × K × latency = {1.3 * ideal:.2f} s: {'met' if ok else 'MISSED'}")
        return 0 if ok or args.report_only else 1


if __name__ == "__main__":
    sys.exit(main())
