"""The benchmark scripts still run and report the call counts the design promises (no timing asserted)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_loop_overhead_reports_fewer_calls_and_decodes_than_the_official_flow() -> None:
    args = ["--n", "3", "--steps", "8", "--guided", "2", "--frames", "8", "--videos", "1"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "loop_overhead.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    calls = re.search(r"model calls / video\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)", done.stdout)
    frames = re.search(r"frames decoded / video\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)", done.stdout)
    assert calls and frames, done.stdout
    assert (float(calls[1]), float(calls[2])) == (8 + 2 * 3, 8 + 2 * 2)
    assert (float(frames[1]), float(frames[2])) == (2 * 3 * 8 + 8, 2 * 3 * 4 + 8)
