"""``f2g eval --engine ray --address``: the same suite on an existing Ray cluster (a head node started with the
``ray`` CLI, as an operator would), not one the command starts."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="ray is not installed (pip install 'f2g-eval[ray]')")


from .conftest import eval_args, read_csv, run_cli

pytestmark = pytest.mark.ray  # scripts/test.sh: one serial run (they kill processes; `ray stop` ends every Ray)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def ray_cluster(tmp_path: Path) -> Iterator[str]:
    """A one-node Ray cluster started by ``ray start --head``, its address. Token authentication is off for this
    throwaway cluster (Ray turns it on when ``~/.ray/auth_token`` exists, and the driver would then need it too)."""
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent))
    if ray_cli is None:
        pytest.skip("the ray command is not installed beside this Python")
    port = _free_port()
    started = subprocess.run(
        [ray_cli, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats"],
        capture_output=True, text=True, timeout=180, env={**os.environ, "RAY_AUTH_MODE": "disabled"},
    )  # fmt: skip
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120)


def test_eval_runs_on_an_existing_cluster_by_address(ray_cluster, eval_files, tmp_path) -> None:
    out = tmp_path / "out"
    args = eval_args(eval_files, out, "--engine", "ray", "--address", ray_cluster, "--workers", "2", "--no-report")
    assert run_cli(args) == 0
    rows = read_csv(out / "results.csv")
    assert len(rows) == 8 and {r["config"] for r in rows} == {"base", "guided"}
    with sqlite3.connect(out / "results.sqlite") as store:
        workers = [w for (w,) in store.execute("SELECT worker FROM results")]
    assert len(workers) == 8 and all(w.startswith("ray-") for w in workers)  # made by the cluster's actors
